"""Stage 0 of the synthetic recipe: a LibriLight-shaped corpus spoken by espeak-ng and mbrola.

Why synthesise: this machine cannot download LibriLight, and the embedded default model and
the recipe tests need a corpus with the same shape (chapter-long flac files, a JSON with
`voice_activity` beside each, many speakers). Everything is deterministic from the seed.

Speakers are a base voice (mbrola diphone voices, which sound far more natural, then espeak-ng
voices with +variants) plus per-speaker espeak pitch and speed, a sox pitch shift and tempo
change, and a noise floor at a per-speaker SNR. Text is English sentences from Debian's
fortunes packages that can be read verbatim (see `clean_sentences`). The true sentences and
their times go to `<root>/transcripts/...json`, outside every subset folder, for the
`reference` ASR backend.

Never used here, by design: festival voices, recordings of people, the Harvard sentences. They
are kept for independent evaluation.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .stage import ShardJob, ShardResult, StageReport, run_sharded

SR = 16000
MBROLA_DIR = Path("/usr/share/mbrola")
# mbrola voices espeak-ng can drive for English: native (us1-3, en1) and accented English
# ("mb-<voice>-en" voices that map English phonemes onto another language's diphones)
MBROLA_NATIVE = ["us1", "us2", "us3", "en1"]
MBROLA_ACCENTED = [
    "af1", "nl2", "fr1", "fr4", "de1", "de2", "de3", "de4", "de5", "de6",
    "gr2", "hu1", "pl1", "ro1", "sw1", "sw2",
]  # fmt: skip
ESPEAK_BASES = [
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
]  # fmt: skip
ESPEAK_VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "Andy", "Annie", "Denis", "Gene", "Hugo", "Lee", "Mike",
    "Storm", "aunty", "belinda", "david", "edward", "linda", "max", "norbert", "paul", "rob",
    "steph", "travis", "victor", "zac", "adam", "john", "michel", "quincy",
]  # fmt: skip


def espeak_variants() -> set[str]:
    out = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    )
    return set(re.findall(r"!v/(\S+)", out.stdout))


def available_voices(families: list[str], notes: list[str]) -> list[str]:
    """Base voices in a fixed order; says which wanted ones are not installed."""
    voices: list[str] = []
    if "mbrola" in families:
        missing = []
        for v in MBROLA_NATIVE + MBROLA_ACCENTED:
            if (MBROLA_DIR / v / v).is_file() or (MBROLA_DIR / v).is_dir():
                voices.append(f"mb-{v}" if v in MBROLA_NATIVE else f"mb-{v}-en")
            else:
                missing.append(f"mbrola-{v}")
        if missing:
            notes.append(
                f"skipping mbrola voices not installed: {' '.join(missing)} "
                "(bash tools/install_system_deps.sh --mbrola)"
            )
    if "espeak" in families:
        variants = espeak_variants()
        missing = [v for v in ESPEAK_VARIANTS if v not in variants]
        if missing:
            notes.append(f"skipping espeak-ng variants not installed: {missing}")
        voices.extend(f"{b}+{v}" for v in ESPEAK_VARIANTS if v in variants for b in ESPEAK_BASES)
    return voices


@dataclass
class Speaker:
    id: str
    voice: str
    pitch: int  # espeak -p, 0-99
    speed: int  # espeak -s, words per minute
    sox_pitch: int  # cents
    tempo: float
    snr_db: float
    heldout: bool
    # formants scaled by this (sox `speed`, its change of rate undone by `tempo`): a vocal
    # tract longer or shorter than the base voice's
    formant: float = 1.0


def make_speakers(cfg, notes: list[str]) -> list[Speaker]:
    """Speaker i depends only on (seed, i) and the installed voices: growing n_speakers keeps
    the first speakers as they were. Base voices are used round-robin (mbrola first); each
    round draws new pitch/speed/warp values, so speakers sharing a base still differ.
    With `family_split`, see `split_family_speakers`."""
    if cfg.family_split:
        return split_family_speakers(cfg)
    bases = available_voices(cfg.voices, notes)
    if not bases:
        raise RuntimeError("no espeak-ng or mbrola voices available for the synthetic corpus")
    mb = [b for b in bases if b.startswith("mb-")]
    es = [b for b in bases if not b.startswith("mb-")]
    random.Random(cfg.seed).shuffle(es)
    order = mb + es
    out = []
    for i in range(cfg.n_speakers):
        rng = random.Random(f"{cfg.seed}:speaker:{i}")
        out.append(
            Speaker(
                id=str(1000 + i),
                voice=order[i % len(order)],
                pitch=rng.randint(25, 75),
                speed=rng.randint(135, 185),
                sox_pitch=rng.randint(-250, 250),
                tempo=round(rng.uniform(0.92, 1.08), 3),
                snr_db=round(rng.uniform(25.0, 45.0), 1),
                heldout=i >= cfg.n_speakers - cfg.n_heldout_speakers,
            )
        )
    return out


def split_family_speakers(cfg) -> list[Speaker]:
    """Speakers whose voice families follow recipes.voices: the training speakers draw from
    the training families only (mbrola four times over, being few and the most natural), the
    last n_heldout_speakers cycle through the held-out families, so the test split is voices
    of families no model trained on. Each speaker also gets a formant scale."""
    from . import voices

    train = [voices.mbrola_voice(v) for v in voices.MBROLA_TRAIN] * 4
    train += [f"+{v}" for v in voices.ESPEAK_TRAIN]
    held = [voices.mbrola_voice(v) for v in voices.MBROLA_HELDOUT]
    held += [f"+{v}" for v in voices.ESPEAK_HELDOUT]
    out = []
    n_train = cfg.n_speakers - cfg.n_heldout_speakers
    for i in range(cfg.n_speakers):
        rng = random.Random(f"{cfg.seed}:speaker:{i}")
        heldout = i >= n_train
        voice = held[(i - n_train) % len(held)] if heldout else rng.choice(train)
        if voice.startswith("+"):  # an espeak-ng variant on one of the English bases
            voice = rng.choice(voices.ESPEAK_BASES) + voice
        out.append(
            Speaker(
                id=str(1000 + i),
                voice=voice,
                pitch=rng.randint(25, 75),
                speed=rng.randint(135, 185),
                sox_pitch=rng.randint(-250, 250),
                tempo=round(rng.uniform(0.92, 1.08), 3),
                snr_db=round(rng.uniform(25.0, 45.0), 1),
                heldout=heldout,
                formant=round(rng.uniform(0.95, 1.05) if heldout else rng.uniform(0.9, 1.12), 3),
            )
        )
    return out


# --------------------------------------------------------------------------- text

_ABBREVIATION = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Mt|Inc|Ltd|Co|vs|etc|[A-Z])\.|"
    r"[A-Za-z]\.[A-Za-z]"
)
_ALLOWED = re.compile(r"^[A-Z][A-Za-z ,;'?!.-]*[.?!]$")


def clean_sentences(fortune_text: str) -> list[str]:
    """Sentences that espeak can read exactly as written, so the transcript is the truth.

    Dropped: attributions ("-- Author"), anything with digits, symbols, quotes or brackets
    (read inconsistently), acronyms (spelt out), abbreviations with a period (they would also
    break sentence splitting), and sentences under 4 or over 30 words.
    """
    out = []
    for fortune in re.split(r"^%\s*$", fortune_text, flags=re.M):
        lines = [ln.strip() for ln in fortune.splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("--") and not ln.startswith("-")]
        text = " ".join(lines).replace("\t", " ")
        text = re.sub(r"\s+", " ", text)
        if _ABBREVIATION.search(text):
            # the sentence split would cut "Mr. Smith" in two; drop the whole fortune
            continue
        for sent in re.split(r"(?<=[.?!])\s+(?=[A-Z])", text):
            sent = sent.strip()
            words = sent.split()
            if not 4 <= len(words) <= 30 or not _ALLOWED.match(sent):
                continue
            if any(w.endswith(".") for w in words[:-1]) or "--" in sent or "''" in sent:
                continue
            if any(sum(c.isupper() for c in w) > 1 for w in words):
                continue
            out.append(sent)
    return out


def load_sentences(cfg) -> list[str]:
    sentences: list[str] = []
    root = Path(cfg.fortune_dir)
    for name in cfg.fortune_files:
        path = root / name
        if path.is_file():
            sentences.extend(clean_sentences(path.read_text(errors="replace")))
    sentences = sorted(set(sentences))
    if not sentences:
        raise RuntimeError(
            f"no usable sentences in {root} {cfg.fortune_files}: "
            "apt-get install fortunes fortunes-min"
        )
    return sentences


# --------------------------------------------------------------------------- audio


def synthesize(sentence: str, spk: Speaker) -> np.ndarray:
    """espeak-ng (or mbrola through it) piped through sox: [S] float32 at 16 kHz."""
    import soundfile as sf

    espeak = subprocess.Popen(
        ["espeak-ng", "-v", spk.voice, "-p", str(spk.pitch), "-s", str(spk.speed), "--stdout"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # mbrola warns about diphones it replaces; harmless
    )
    sox = subprocess.Popen(
        [
            "sox",
            "-q",
            "-R",
            "-D",
            "-t",
            "wav",
            "-",
            "-t",
            "wav",
            "-r",
            str(SR),
            "-c",
            "1",
            "-b",
            "16",
            "-",
        ]
        + (["speed", str(spk.formant)] if spk.formant != 1.0 else [])
        + ["pitch", str(spk.sox_pitch), "tempo", "-s", str(round(spk.tempo / spk.formant, 4))],
        stdin=espeak.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    espeak.stdin.write(sentence.encode())
    espeak.stdin.close()
    espeak.stdout.close()
    data, err = sox.communicate()
    espeak.wait()
    if sox.returncode != 0 or not data:
        raise RuntimeError(f"synthesis failed for voice {spk.voice}: {err.decode()[:200]}")
    wav, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert sr == SR
    return trim(wav)


def trim(wav: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """Cut leading/trailing near-silence so voice_activity spans are tight."""
    if wav.size == 0:
        return wav
    hop = int(0.01 * SR)
    n = len(wav) // hop
    if n == 0:
        return wav
    e = 20 * np.log10(np.sqrt(np.mean(wav[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-9)
    loud = np.nonzero(e > e.max() - 45)[0]
    if len(loud) == 0:
        return wav[:0]
    a = max(0, loud[0] * hop - int(margin * SR))
    b = min(len(wav), (loud[-1] + 1) * hop + int(margin * SR))
    return wav[a:b]


@dataclass
class ChapterJob:
    root: str
    subset: str
    speaker: dict
    book: str
    stem: str
    sentences: list[str]
    pause_seconds: list[float]
    long_pause_every: int
    long_pause_seconds: float
    seed: str


def write_chapter(job: ChapterJob) -> dict:
    """Synthesize one chapter and write flac, transcript, then JSON (the JSON is the commit
    point: a chapter with its JSON present is complete)."""
    import soundfile as sf

    from echovox.checkpoint import write_json

    spk = Speaker(**job.speaker)
    folder = Path(job.root) / job.subset / spk.id / job.book
    flac = folder / f"{job.stem}.flac"
    meta_path = flac.with_suffix(".json")
    if meta_path.is_file():  # resumed: this chapter was finished before
        meta = json.loads(meta_path.read_text())
        return {"path": str(flac), "duration": meta["echovox_duration"], "n": len(job.sentences)}
    rng = random.Random(job.seed)
    pieces = [np.zeros(int(0.5 * SR), np.float32)]
    t = 0.5
    spans, truth = [], []
    for k, sentence in enumerate(job.sentences):
        if k:
            if job.long_pause_every and k % job.long_pause_every == 0:
                pause = job.long_pause_seconds * rng.uniform(0.8, 1.2)
            else:
                pause = rng.uniform(*job.pause_seconds)
            pieces.append(np.zeros(int(pause * SR), np.float32))
            t += int(pause * SR) / SR
        wav = synthesize(sentence, spk)
        if wav.size == 0:
            continue
        spans.append([round(t, 3), round(t + len(wav) / SR, 3)])
        truth.append({"start": spans[-1][0], "end": spans[-1][1], "text": sentence})
        pieces.append(wav)
        t += len(wav) / SR
    pieces.append(np.zeros(int(0.5 * SR), np.float32))
    audio = np.concatenate(pieces)
    speech = np.concatenate([audio[int(a * SR) : int(b * SR)] for a, b in spans])
    rms = float(np.sqrt(np.mean(speech**2))) if speech.size else 0.1
    # str hash() is salted per process; a digest keeps the noise identical across runs
    noise_seed = int(hashlib.sha256(job.seed.encode()).hexdigest()[:8], 16)
    noise = np.random.default_rng(noise_seed).standard_normal(len(audio))
    audio = audio + noise.astype(np.float32) * rms / 10 ** (spk.snr_db / 20)
    peak = float(np.abs(audio).max())
    if peak > 0.95:
        audio *= 0.95 / peak
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{job.stem}.flac.tmp"
    sf.write(str(tmp), audio, SR, format="FLAC", subtype="PCM_16")
    tmp.replace(flac)
    truth_path = (
        Path(job.root) / "transcripts" / job.subset / spk.id / job.book / f"{job.stem}.json"
    )
    write_json(truth_path, {"speaker": spk.id, "voice": spk.voice, "sentences": truth})
    duration = len(audio) / SR
    write_json(
        meta_path,
        {
            "speaker": spk.id,
            "book_meta": {
                "id": job.book,
                "title": f"Fortunes read by {spk.voice}",
                "authors": [{"name": "Debian fortunes"}],
                "genre": ["synthetic"],
            },
            "snr": spk.snr_db,
            "voice_activity": spans,
            "echovox_duration": duration,
            "echovox_voice": asdict(spk),
        },
    )
    return {"path": str(flac), "duration": duration, "n": len(truth)}


def chapter_shard(jobs: list[dict], _params=None) -> ShardResult:
    result = ShardResult()
    for job in jobs:
        job = ChapterJob(**job)
        try:
            info = write_chapter(job)
        except RuntimeError as err:
            result.skipped.append((f"{job.speaker['id']}/{job.book}/{job.stem}", str(err)))
            continue
        result.rows.append(
            {"path": info["path"], "speaker": job.speaker["id"], "duration": info["duration"]}
        )
    return result


def split_heldout_sentences(sentences: list[str]) -> tuple[list[str], list[str]]:
    """A tenth of the sentences, chosen by a hash of their text, for held-out speakers only."""

    def held(s: str) -> bool:
        return int(hashlib.md5(s.encode()).hexdigest(), 16) % 10 == 0

    return [s for s in sentences if not held(s)], [s for s in sentences if held(s)]


def plan_jobs(cfg, root: Path, notes: list[str]) -> tuple[list[Speaker], list[dict]]:
    speakers = make_speakers(cfg, notes)
    sentences = load_sentences(cfg)
    notes.append(f"{len(sentences)} usable sentences from fortunes {cfg.fortune_files}")
    pools = {False: sentences, True: sentences}
    if cfg.family_split:  # held-out voices read sentences no training voice reads
        pools[False], pools[True] = split_heldout_sentences(sentences)
    jobs = []
    for i, spk in enumerate(speakers):
        rng = random.Random(f"{cfg.seed}:text:{i}")
        pool = pools[spk.heldout]
        for c in range(cfg.chapters_per_speaker):
            chosen = rng.sample(pool, min(cfg.sentences_per_chapter, len(pool)))
            jobs.append(
                asdict(
                    ChapterJob(
                        root=str(root),
                        subset=cfg.subset,
                        speaker=asdict(spk),
                        book=f"fortunes_{c // 2:03d}",
                        stem=f"chapter_{c:03d}_{spk.id}",
                        sentences=chosen,
                        pause_seconds=list(cfg.pause_seconds),
                        long_pause_every=cfg.long_pause_every,
                        long_pause_seconds=cfg.long_pause_seconds,
                        seed=f"{cfg.seed}:chapter:{i}:{c}",
                    )
                )
            )
    return speakers, jobs


def stage_generate(cfg, force: bool = False) -> StageReport:
    from datasets import Features, Value

    from echovox.checkpoint import write_json

    from .stage import reset_work

    report = StageReport(0, "generate synthetic corpus")
    root = Path(cfg.corpus.root)
    work = cfg.exp / "shards" / "generate"
    if force:
        reset_work(work)
    speakers, jobs = plan_jobs(cfg.synthetic, root, report.notes)
    write_json(root / "speakers.json", [asdict(s) for s in speakers])
    features = Features(
        {"path": Value("string"), "speaker": Value("string"), "duration": Value("float64")}
    )
    job = ShardJob(
        fn_path="echovox.recipes.synthetic:chapter_shard",
        params=None,
        work=work,
        out=cfg.exp / "generated",
        features=features,
        shard_size=1,  # a chapter is tens of seconds of work: resume at chapter granularity
        desc="synthesize chapters",
    )
    ds = run_sharded(job, jobs, cfg.work, report)
    if ds is not None:
        report.counts["chapters"] = len(ds)
        report.counts["speakers"] = len(set(ds["speaker"]))
        report.counts["held-out speakers"] = sum(s.heldout for s in speakers)
        report.hours[cfg.synthetic.subset] = round(sum(ds["duration"]) / 3600.0, 4)
        voices = sorted({s.voice for s in speakers})
        report.notes.append(f"{len(voices)} base voices used, e.g. {voices[:6]}")
    return report


def heldout_speakers(root: Path) -> list[str]:
    path = Path(root) / "speakers.json"
    if not path.is_file():
        return []
    return [s["id"] for s in json.loads(path.read_text()) if s["heldout"]]
