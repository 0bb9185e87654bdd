"""A real browser drives the demo: Debian's chromium through Python playwright (no browser
download). Upload the example prompt, type the texts, click Generate, wait for the audio."""

import os
import shutil
import subprocess
import time

import pytest
import soundfile as sf

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def ensure_chromium() -> str:
    """Install Debian's chromium when it is missing and we may; skip only if we cannot."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    res = subprocess.run(
        ["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, env=env
    )
    if res.returncode != 0 or not os.path.exists(CHROMIUM):
        subprocess.run(["apt-get", "update"], capture_output=True, env=env)
        res = subprocess.run(
            ["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, env=env
        )
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"could not install chromium: {res.stderr[-300:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    path = ensure_chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@pytest.mark.slow
def test_clone_in_the_browser(browser, running_demo, tmp_path):
    page = browser.new_page()
    t0 = time.perf_counter()
    page.goto(running_demo.local_url)
    page.wait_for_selector("#generate", timeout=60_000)
    t_load = time.perf_counter() - t0

    page.set_input_files("#prompt input[type=file]", str(EXAMPLE_PROMPT))
    page.fill("#prompt_text textarea", EXAMPLE_PROMPT_TEXT)
    page.fill("#text textarea", "Hello from a real browser.")
    t1 = time.perf_counter()
    page.click("#generate")
    page.wait_for_function(
        "() => { const t = document.querySelector('#took textarea'); return t && t.value; }",
        timeout=120_000,
    )
    link = page.wait_for_selector("#output a[href*='gradio_api/file=']", timeout=30_000)
    t_generate = time.perf_counter() - t1

    # fetch the output through the browser's own session and measure it
    body = page.request.get(link.get_attribute("href")).body()
    out = tmp_path / "from_browser.wav"
    out.write_bytes(body)
    info = sf.info(str(out))
    assert info.frames > 0 and info.duration > 0
    assert float(page.input_value("#rtf textarea")) > 0
    print(
        f"\nbrowser timings: page load {t_load:.2f} s, click-to-audio {t_generate:.2f} s, "
        f"output {info.duration:.2f} s, server {page.input_value('#took textarea')}"
    )
    page.close()


@pytest.mark.slow
def test_bad_input_shows_an_error_not_a_trace(browser, running_demo):
    page = browser.new_page()
    page.goto(running_demo.local_url)
    page.wait_for_selector("#generate", timeout=60_000)
    page.fill("#text textarea", "Some text but no prompt.")
    page.click("#generate")
    toast = page.wait_for_selector("text=upload or record a voice prompt", timeout=30_000)
    assert toast is not None
    assert "Traceback" not in page.content()
    page.close()


@pytest.mark.slow
def test_an_example_row_fills_the_form_and_generates(browser, running_demo):
    from echovox.app.demo import EXAMPLE_SENTENCES

    page = browser.new_page()
    page.goto(running_demo.local_url)
    page.wait_for_selector("#generate", timeout=60_000)
    page.click(f"text={EXAMPLE_SENTENCES[1][:30]}")
    page.wait_for_function("() => document.querySelector('#text textarea').value.length > 0")
    assert page.input_value("#text textarea") == EXAMPLE_SENTENCES[1]
    assert page.input_value("#prompt_text textarea") == EXAMPLE_PROMPT_TEXT
    page.click("#generate")
    page.wait_for_selector("#output a[href*='gradio_api/file=']", timeout=120_000)
    page.close()
