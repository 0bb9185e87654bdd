"""The `echovox` console entry point.

One entry point; every subcommand is a typed function, or a dataclass of its options whose
instance runs when called, and jsonargparse builds the parser from its signature and docstring
(the approach LightningCLI takes). Subsystems contribute a nested `COMMANDS` dict from their own
`cli.py`, each registered under pyproject's `echovox.commands` entry points, so this module
names none of them: the recipes' commands mount here without the app importing the recipes.
Those modules import heavy libraries inside the commands so that `echovox --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable

ENTRY_POINTS = "echovox.commands"
# groups whose commands are top-level verbs: `echovox phonemize`, `echovox synthesize`
TOP_LEVEL_GROUPS = ("text", "app")


def commands() -> dict[str, Callable | dict]:
    """All subcommands, group by group, from the `echovox.commands` entry points (name: the
    group, value: the module that exposes `COMMANDS: dict[str, Callable | dict]` and, for
    commands it adds to another group, `MOUNTS: {group: {name: command}}`)."""
    from importlib.metadata import entry_points

    out: dict[str, Callable | dict] = {}
    mounts: list[dict[str, dict]] = []
    for ep in entry_points(group=ENTRY_POINTS):
        module = ep.load()
        cmds = module.COMMANDS
        if ep.name in TOP_LEVEL_GROUPS:
            out.update(cmds)
        else:
            out[ep.name] = dict(cmds)
        # a higher layer's commands in a lower layer's group (`echovox codec eval` needs
        # eval's recogniser, which the codec layer may not import)
        mounts.append(getattr(module, "MOUNTS", {}))
    for mount in mounts:
        for group, cmds in mount.items():
            out.setdefault(group, {}).update(cmds)
    return out


# short flags jsonargparse cannot declare for function parameters
SHORT_FLAGS = {"-o": "--output"}


def normalize_flags(argv: list[str]) -> list[str]:
    """Accept the dashed spellings people type (`--prompt-text`, `--stop-stage`) and `-o`.

    jsonargparse names options after the parameters (`--prompt_text`) and has no aliases for
    function parameters, so option names are rewritten before parsing; values are left alone.
    """
    out: list[str] = []
    for arg in argv:
        if arg in SHORT_FLAGS:
            arg = SHORT_FLAGS[arg]
        elif arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + eq + value
        out.append(arg)
    return out


# Commands whose one list parameter takes any number of positional words, as shell globs
# give them (`echovox transcribe *.wav`): jsonargparse takes a list positional as one JSON or
# `[a,b]` value, so the words are gathered into one before parsing.
VARIADIC = {("transcribe",): "audio"}


def gather_variadic(argv: list[str]) -> list[str]:
    """['transcribe', 'a.wav', '--model', 'm', 'b.wav'] -> ['transcribe', '["a.wav", "b.wav"]',
    '--model', 'm'] for the commands in VARIADIC; other commands are left alone."""
    for words in VARIADIC:
        if tuple(argv[: len(words)]) != words:
            continue
        rest, files, flags = argv[len(words) :], [], []
        i = 0
        while i < len(rest):
            arg = rest[i]
            if arg.startswith("-") and len(arg) > 1:
                takes_value = "=" not in arg and arg not in ("-h", "--help")
                flags.extend(rest[i : i + 1 + takes_value])
                i += 1 + takes_value
            else:
                files.append(arg)
                i += 1
        return [*words, json.dumps(files), *flags] if files else argv
    return argv


# What a user can cause (a missing or unreadable file, a bad value, a foreign checkpoint: the
# project's own errors all derive from ValueError; an ASR or speaker-encoder backend that cannot
# run here) is reported in one line, not a traceback. The commands raise; only main() reports.
USER_ERRORS = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ValueError,
)
DEBUG_ENV = "ECHOVOX_DEBUG"


def _command_name(tree: dict[str, Callable | dict], args: list[str]) -> str:
    """'echovox codec train' for args ['codec', 'train', ...]: the words that name a command."""
    words = []
    for arg in args:
        if not isinstance(tree, dict) or arg not in tree:
            break
        words.append(arg)
        tree = tree[arg]
    return " ".join(["echovox", *words])


def main(argv: list[str] | None = None) -> None:
    import os

    from jsonargparse import CLI

    from echovox.eval.errors import AsrUnavailableError, SpeakerBackendError

    args = gather_variadic(normalize_flags(sys.argv[1:] if argv is None else argv))
    tree = commands()
    try:
        result = CLI(tree, args=args, as_positional=True)
        if dataclasses.is_dataclass(result) and callable(result):
            result()  # a command given as a dataclass of its options
    except (*USER_ERRORS, AsrUnavailableError, SpeakerBackendError) as err:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.exit(f"{_command_name(tree, args)}: {err}\n(set {DEBUG_ENV}=1 for the traceback)")


if __name__ == "__main__":
    main()
