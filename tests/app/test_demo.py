"""The Gradio app through its API (gradio_client): results, readable errors, the queue under
concurrent load, and which files the server will hand out."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf
from model_helpers import REPO, SR, voice

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from echovox.app.spectrogram import spectrogram_image

ADVANCED = (1.0, 0, 1.0, True, 0, 3.0)  # temperature, top-k, top-p, repetition-aware, seed, s


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    # the clients' own download folder: by default gradio_client downloads into
    # GRADIO_TEMP_DIR, which in this process is the server's cache, and a client truncating
    # the very file the server is sending makes the transfer fail
    return tmp_path_factory.mktemp("client_downloads")


@pytest.fixture(scope="module")
def client(running_demo, downloads):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(running_demo.local_url, verbose=False, download_files=downloads)


def _generate(client, prompt, prompt_text, text, advanced=ADVANCED):
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(prompt)) if prompt else None,
        prompt_text,
        text,
        *advanced,
        api_name="/generate",
    )


def test_generate_returns_audio_spectrograms_and_timing(client):
    audio, spec_in, spec_out, took, rtf, used = _generate(
        client, EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, "Hello from the demo."
    )
    info = sf.info(audio)
    assert info.samplerate == SR and info.frames > 0
    assert took.endswith(" s") and float(took[:-2]) > 0 and float(rtf) > 0
    assert used == EXAMPLE_PROMPT_TEXT
    for img in (spec_in, spec_out):
        assert img.endswith((".webp", ".png"))


@pytest.mark.parametrize(
    "prompt, text, needle",
    [
        (EXAMPLE_PROMPT, "", "type the text"),
        (EXAMPLE_PROMPT, "x" * 1001, "up to 1000"),
        (None, "Hello.", "upload or record a voice prompt"),
        ("short", "Hello.", "at least 1 s"),
        ("silent", "Hello.", "silent"),
    ],
)
def test_bad_input_is_a_readable_error(client, tmp_path, prompt, text, needle):
    from gradio_client.exceptions import AppError

    if prompt == "short":
        prompt = tmp_path / "short.wav"
        sf.write(str(prompt), voice(0.5), SR)
    elif prompt == "silent":
        prompt = tmp_path / "silent.wav"
        sf.write(str(prompt), np.zeros(3 * SR, np.float32), SR)
    with pytest.raises(AppError) as err:
        _generate(client, prompt, "one two three", text)
    message = str(err.value)
    assert needle in message.lower() and "Traceback" not in message


def test_eight_concurrent_requests_all_complete(running_demo, downloads):
    from gradio_client import Client

    def one(i):
        c = Client(running_demo.local_url, verbose=False, download_files=downloads / str(i))
        # pairs of identical requests: identical outputs are what once raced in Gradio's
        # content-addressed cache (a file rewritten while it was being downloaded)
        return _generate(c, EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, f"Request number {i // 2}.")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert len(results) == 8
    for audio, *_ in results:
        assert sf.info(audio).frames > 0


def test_queue_is_bounded(running_demo):
    queue = running_demo._queue
    assert queue.max_size == 16 and queue.default_concurrency_limit == 1
    generate = next(fn for fn in running_demo.fns.values() if fn.api_name == "generate")
    assert generate.concurrency_limit in ("default", 1)


def test_files_are_served_only_from_the_app_temp_folder(running_demo, client):
    import urllib.error
    import urllib.request

    base = running_demo.local_url.rstrip("/")
    audio = _generate(client, EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, "Hi.")[0]

    def status(path):
        try:
            with urllib.request.urlopen(f"{base}/gradio_api/file={path}") as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    temp = running_demo.echovox_temp_dir
    served = next(p for p in temp.rglob("output.wav"))
    assert status(served) == 200
    for forbidden in (REPO / "pyproject.toml", "/etc/passwd", REPO / "app" / "demo.py"):
        assert status(forbidden) in (403, 404), forbidden
    assert audio


def test_spectrogram_image():
    img = spectrogram_image(voice(1.0), SR, height=100)
    assert img.dtype == np.uint8 and img.shape[0] == 100 and img.shape[2] == 3
    assert 90 <= img.shape[1] <= 110  # 100 frames per second
    tiny = spectrogram_image(np.zeros(10, np.float32), SR)
    assert tiny.shape[1] >= 1


def test_transcribe_button_uses_the_offline_asr(client):
    from gradio_client import handle_file

    # the bundled prompt says "Nobody ever forgets where he buried the hatchet."
    text = client.predict(handle_file(str(EXAMPLE_PROMPT)), api_name="/transcribe")
    assert {"ever", "forgets", "where"} <= set(text.lower().replace(",", "").split()), text


def test_launched_locally_without_a_share_link(running_demo):
    assert running_demo.share is False and running_demo.share_url is None
    assert running_demo.local_url.startswith("http://127.0.0.1:")
    assert running_demo.analytics_enabled is False


def test_oversized_upload_is_refused(client, tmp_path):
    big = tmp_path / "big.wav"
    sf.write(str(big), np.zeros(11_000_000, np.int16), 8000, subtype="PCM_16")  # 22 MB
    with pytest.raises(Exception, match="(?i)too large|size|413"):
        _generate(client, big, "one two", "Hello.")


def test_output_folders_are_unique_and_old_ones_pruned(tmp_path):
    import os
    import time

    from echovox.app.demo import new_output_folder

    a, b = new_output_folder(tmp_path), new_output_folder(tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
    old = time.time() - 7200
    os.utime(a, (old, old))
    c = new_output_folder(tmp_path, keep_seconds=3600)
    assert not a.exists() and b.exists() and c.exists()
