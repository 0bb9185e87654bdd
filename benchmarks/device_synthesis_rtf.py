"""End-to-end synthesis on a chosen device, codec decode included: echovox-tiny's real-time
factor, the full-size model's (VALL-E sizes, random weights), and whether the codec on that
device encodes and decodes like the CPU. Prints JSON.

    # where espeak-ng is installed: record the phonemes this benchmark's texts need
    .venv/bin/python benchmarks/device_synthesis_rtf.py --write_phonemes exp/bench/phonemes.json
    # on the GPU machine (no espeak-ng there): replay them
    python benchmarks/device_synthesis_rtf.py --device cuda --phonemes exp/bench/phonemes.json

Only the espeak-ng call is replayed: normalisation, sentence packing, the AR, the NAR and the
codec run as in any synthesis. The full-size model is the codec preset `encodec_24khz` cut to
VALL-E's 8 codebooks (6 kbit/s at 75 frames/s) with the `valle` AR and NAR (12 layers, d=1024);
its weights are random, so each chunk is forced to --frames frames, as in synthesis_rtf.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _device import best_of, describe, pick_device  # noqa: E402
from synthesis_rtf import build_model  # noqa: E402

from echovox.app.synthesizer import CloneRequest, Synthesizer  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "app" / "assets"
DEMO_TEXT = "The quick brown fox jumps over the lazy dog, and then it takes a nap."
BATCH_TEXTS = [
    "The weather was calm when the boat left the harbour.",
    "Nobody expected the meeting to last all afternoon.",
    "She put the letters on the table and walked out.",
    "A small dog barked twice and then fell silent.",
    "The train was late again, so we walked home in the rain.",
    "He counted the coins twice before he paid for the bread.",
    "Bright lights filled the hall as the music began.",
    "They planted three trees behind the old school last spring.",
]


class PhonemeCache:
    """Replaces the text front end's espeak-ng call: records its answers (`record`) or gives
    them back (`replay`), keyed by the exact sentences asked for."""

    def __init__(self, path: Path, record: bool) -> None:
        self.path, self.record = path, record
        self.table: dict[str, list[list[str]]] = {}
        if not record:
            if not path.is_file():
                raise SystemExit(f"--phonemes {path}: no such file (make it with --write_phonemes)")
            self.table = json.loads(path.read_text(encoding="utf-8"))

    def install(self) -> None:
        import echovox.text.frontend as frontend

        real, cache = frontend.Phonemizer, self

        class Cached:
            def __init__(self, language: str = "en-us") -> None:
                self.language = language
                self.real = real(language) if cache.record else None

            def phonemize(self, sentences: list[str]) -> list[list[str]]:
                key = json.dumps(sentences, ensure_ascii=False)
                if cache.record:
                    cache.table[key] = self.real.phonemize(sentences)
                elif key not in cache.table:
                    raise SystemExit(
                        f"--phonemes {cache.path} lacks {sentences!r}: record it again with "
                        "--write_phonemes where espeak-ng is installed"
                    )
                return cache.table[key]

        frontend.Phonemizer = Cached

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.table, ensure_ascii=False, indent=0), "utf-8")


def timed_synthesis(
    tts: Synthesizer, prompt, prompt_text: str, repeats: int, device, batch: int
) -> dict:
    """One sentence and a batch of `batch`, warm (after one untimed call each)."""
    vp = tts.prepare_prompt(prompt, prompt_text)
    requests = [CloneRequest(text=t, prompt=vp) for t in BATCH_TEXTS[:batch]]
    tts.clone(DEMO_TEXT, vp)
    tts.clone_many(requests)
    one_s, one = best_of(repeats, device, lambda: tts.clone(DEMO_TEXT, vp))
    batch_s, outs = best_of(repeats, device, lambda: tts.clone_many(requests))
    batch_audio = sum(a.duration for a in outs)
    return {
        "one_sentence": {
            "seconds": round(one_s, 3),
            "audio_s": round(one.duration, 2),
            "rtf": round(one_s / one.duration, 4),
        },
        f"batch_of_{batch}": {
            "seconds": round(batch_s, 3),
            "audio_s": round(batch_audio, 2),
            "rtf": round(batch_s / batch_audio, 4),
        },
    }


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM mono WAV with the standard library: the GPU machine has no soundfile."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit(f"{path}: expected 16-bit mono PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return (pcm / 32768.0).astype(np.float32), w.getframerate()


def codec_agreement(tts: Synthesizer, wav: np.ndarray, sr: int) -> dict:
    """The codec on tts.device against a CPU copy: the share of equal codes from the same
    audio, and the decode of the same codes (its SNR against the CPU's, in dB)."""
    import copy

    from echovox.audio import resample

    wav = resample(wav, sr, tts.codec.sample_rate)
    cpu = copy.deepcopy(tts.codec).to("cpu")
    x = torch.from_numpy(wav)[None, None]
    with torch.inference_mode():
        codes_cpu = cpu.encode(x)
        codes_dev = tts.codec.encode(x.to(tts.device)).cpu()
        y_cpu = cpu.decode(codes_cpu)
        y_dev = tts.codec.decode(codes_cpu.to(tts.device)).cpu()
    err = (y_dev - y_cpu).pow(2).mean().item()
    return {
        "codes_equal": round((codes_cpu == codes_dev).float().mean().item(), 4),
        "decode_snr_db": round(10 * np.log10(y_cpu.pow(2).mean().item() / max(err, 1e-20)), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--phonemes", type=Path, help="replay espeak-ng's answers from this file")
    ap.add_argument("--write_phonemes", type=Path, help="record them into this file (CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=750, help="full-size model: frames per chunk")
    ap.add_argument("--skip_full", action="store_true", help="echovox-tiny only")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument(
        "--quick", action="store_true", help="tests: one repeat, a batch of 2, no full-size model"
    )
    args = ap.parse_args()
    batch = len(BATCH_TEXTS)
    if args.quick:
        args.repeats, args.skip_full, batch = 1, True, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.write_phonemes and args.phonemes:
        raise SystemExit("give --phonemes or --write_phonemes, not both")
    cache = None
    if args.write_phonemes or args.phonemes:
        cache = PhonemeCache(args.write_phonemes or args.phonemes, record=bool(args.write_phonemes))
        cache.install()
    device = pick_device(args.device)
    prompt = read_wav(ASSETS / "example_prompt.wav")
    prompt_text = (ASSETS / "example_prompt.txt").read_text(encoding="utf-8").strip()

    result: dict = {"benchmark": "device_synthesis_rtf", **describe(device)}
    tts = Synthesizer.from_pretrained(device=str(device))
    result["echovox_tiny"] = timed_synthesis(tts, prompt, prompt_text, args.repeats, device, batch)
    result["echovox_tiny"]["codec_vs_cpu"] = codec_agreement(tts, *prompt)
    if cache is not None and cache.record:
        cache.save()  # the full-size model below asks for the same texts
        result["phonemes_written"] = str(cache.path)
    elif not args.skip_full:
        with tempfile.TemporaryDirectory(prefix="echovox-full-") as tmp:
            # random weights: every chunk is forced to --frames frames (build_model)
            model_dir = build_model(Path(tmp), "full", args.frames)
            full = Synthesizer.from_pretrained(model_dir, device=str(device))
            result["full_size_random_weights"] = {
                "frames_per_chunk": args.frames,
                **timed_synthesis(full, prompt, prompt_text, args.repeats, device, batch),
            }
    if device.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
