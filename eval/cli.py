"""`echovox eval make_list | run | compare`.

A command with many options is a dataclass of them (jsonargparse builds its flags from the
fields and their documentation, as for a function); calling the instance runs it. Heavy
imports happen inside the calls so that `echovox --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .codec_eval import codec_eval


@dataclass
class MakeList:
    """Build a self-contained test list (OUTPUT/test.jsonl + 16 kHz wav files) for `eval run`.

    Targets are utterances of min..max seconds; cross prompts are other utterances of the
    speaker (preferably at most max_prompt_seconds long) cut to prompt_seconds at a quiet
    point, with the whole prompt utterance's transcript; continuation prompts are the first
    prompt_seconds of the target itself, the transcript split in proportion to the time kept.

    Args:
        output: the folder to write (test.jsonl, list_info.json, audio/, prompts/).
        synthetic: a recipe manifest dataset folder, e.g. exp/synthetic/phonemes.
        speakers: the synthetic corpus's speakers.json: take the speakers flagged heldout
            (without it: the manifest rows whose split column is --split).
        librispeech: a LibriSpeech-style tree (SPEAKER/CHAPTER/*.flac + *.trans.txt), e.g.
            test-clean, instead of --synthetic.
        split: the split of --synthetic to take when --speakers is not given.
        modes: cross, continuation, or both comma-separated (cross,continuation).
        per_speaker: target utterances drawn per speaker (0: all of them, as VALL-E uses for
            LibriSpeech test-clean).
        seed: seed of every random draw (targets per speaker, prompt per target).
        min_seconds: shortest target utterance.
        max_seconds: longest target utterance.
        prompt_seconds: prompt length.
        max_prompt_seconds: longest preferred cross-prompt utterance.
    """

    output: str
    synthetic: str | None = None
    speakers: str | None = None
    librispeech: str | None = None
    split: str = "test"
    modes: str = "cross"
    per_speaker: int = 10
    seed: int = 0
    min_seconds: float = 4.0
    max_seconds: float = 10.0
    prompt_seconds: float = 3.0
    max_prompt_seconds: float = 4.0

    def __call__(self) -> None:
        from .testlist import (
            ListSpec,
            build_test_list,
            librispeech_utterances,
            synthetic_utterances,
        )

        if (self.synthetic is None) == (self.librispeech is None):
            raise ValueError("give exactly one of --synthetic and --librispeech")
        spec = ListSpec(
            per_speaker=self.per_speaker or None,
            seed=self.seed,
            modes=tuple(m.strip() for m in self.modes.split(",") if m.strip()),
            min_seconds=self.min_seconds,
            max_seconds=self.max_seconds,
            prompt_seconds=self.prompt_seconds,
            max_prompt_seconds=self.max_prompt_seconds,
        )
        if self.synthetic is not None:
            utts = synthetic_utterances(self.synthetic, self.speakers, self.split)
            source = f"synthetic {self.synthetic}"
            source += f" (heldout in {self.speakers})" if self.speakers else ""
        else:
            utts = librispeech_utterances(self.librispeech)
            source = f"librispeech {self.librispeech}"
        built = build_test_list(utts, self.output, spec, source=source)
        for note in built.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"{built.path}: {len(built.items)} items, {built.n_speakers} speakers")


@dataclass
class Run:
    """Synthesise a test list and score it against its ground truth: WER and CER of every
    path first, then SIM-o, speaker-ID accuracy, duration ratio, RTF. Writes
    OUTPUT/results.json, OUTPUT/results.md and OUTPUT/audio/ID.wav, and prints the markdown.

    Args:
        test_list: a JSONL test list (see `echovox eval make_list`).
        output: the folder for results and synthesised audio.
        model: a model directory; omitted: the embedded default model.
        ground_truth_only: score only the reference recordings (no model, no synthesis).
        outputs: synthesise the list; false loads the model but scores only the
            reference-derived columns (codec resynthesis, true q1 + NAR), to screen a codec
            or NAR in minutes.
        asr: whisper (Whisper through CTranslate2), transformers (a Whisper or CTC
            checkpoint in --asr_model) or pocketsphinx.
        asr_model: the ASR model folder or name; omitted for whisper: the packaged whisper-base.
        speaker_encoder: resemblyzer (offline) or wavlm (WavLMForXVector in --speaker_model).
        speaker_model: the WavLMForXVector folder.
        seed: sampling seed; batch b of the list is sampled with seed + b.
        batch_size: list items per batched synthesis call.
        device: auto (CUDA when present), cpu or cuda.
        threads: CPU threads for torch (default: torch's choice).
        limit: only the first N items of the list.
        codec_resynthesis: also score every reference passed through the model's codec alone,
            the ceiling the codec sets on WER, SIM-o and speaker-ID (OUTPUT/resynthesis/).
        teacher_forced: also score every cross-sentence reference's own first codebook with
            codebooks 2..Q filled in by the NAR: what a perfect AR would give, so the gap to
            the output is the AR's and the gap to the codec resynthesis is the NAR's
            (OUTPUT/teacher_forced/).
        half_weights: the AR decodes with float16 copies of its weights (true) or float32
            (false), as `echovox synthesize --half_weights` does; omitted: the Synthesizer's
            default (float16 copies on a CPU when the AR's weights are stored float16).
        bf16: the NAR and the codec decoder run under bfloat16 autocast on a CPU (true) or in
            float32 (false), as `echovox synthesize --bf16` does; omitted: the Synthesizer's
            default (on for a CPU with AVX512-BF16 or AMX).
    """

    test_list: str
    output: str = "exp/eval/run"
    model: str | None = None
    ground_truth_only: bool = False
    outputs: bool = True
    asr: str = "whisper"
    asr_model: str | None = None
    speaker_encoder: str = "resemblyzer"
    speaker_model: str | None = None
    seed: int = 0
    batch_size: int = 8
    device: str = "auto"
    threads: int | None = None
    limit: int | None = None
    codec_resynthesis: bool = True
    teacher_forced: bool = True
    half_weights: bool | None = None
    bf16: bool | None = None

    def __call__(self) -> None:
        import dataclasses

        from .run import RunOptions, run_evaluation

        if self.threads is not None:
            import torch

            torch.set_num_threads(max(1, self.threads))
        names = {f.name for f in dataclasses.fields(RunOptions)}
        opts = RunOptions(**{k: v for k, v in vars(self).items() if k in names})
        run = run_evaluation(self.test_list, self.output, opts)
        print(run.markdown)
        print(f"wrote {run.json_path} and {run.markdown_path}", file=sys.stderr)


def compare(a: str, b: str, output: str | None = None, ship_rule: bool = True):
    """Compare two `eval run` results of one test list, paired item by item: for each part
    scored in both (output, true q1 + NAR, codec resynthesis), WER, CER, SIM-o, speaker-ID and
    duration ratio as the mean of B - A with its standard error and the counts of items where
    B scored higher and lower. Prints a markdown table, led by the ship rule's verdict: B is
    worse when any part's WER or CER rose by more than one standard error, whatever it gains
    in SIM-o.

    Args:
        a: the baseline: an `eval run` results.json or its folder.
        b: the candidate, scored on the same list.
        output: also write the comparison as JSON here.
        ship_rule: apply the ship rule (the verdict line); false: only the per-metric tables.
    """
    from .compare import compare_results, format_compare_markdown, load_results

    cmp = compare_results(load_results(a), load_results(b), ship_rule=ship_rule)
    for note in cmp["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(format_compare_markdown(cmp), end="")
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(cmp, indent=1) + "\n")
        print(f"wrote {output}", file=sys.stderr)


# `echovox eval make_list ...`, `echovox eval run ...`, `echovox eval compare A B`
COMMANDS = {"make_list": MakeList, "run": Run, "compare": compare}
# `echovox codec eval`: the codec judged by what Whisper hears (eval/codec_eval.py)
MOUNTS = {"codec": {"eval": codec_eval}}
