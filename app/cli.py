"""The `echovox` console entry point.

One entry point; every subcommand is a typed function, and jsonargparse builds the parser from
its signature and docstring (the approach LightningCLI takes). Subsystems contribute a nested
`COMMANDS` dict from their own `cli.py`; those modules import heavy libraries inside the
functions so that `echovox --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

# subcommand group -> module that exposes `COMMANDS: dict[str, Callable | dict]`
SUBSYSTEMS: dict[str, str] = {
    "text": "echovox.text.cli",
    "codec": "echovox.codec.cli",
    "lm": "echovox.lm.cli",
    "recipe": "echovox.recipes.cli",
    "app": "echovox.app.commands",
}


def commands() -> dict[str, Callable | dict]:
    """All subcommands. Groups listed in SUBSYSTEMS whose module does not exist yet are skipped;
    a module that exists but fails to import is a bug and raises."""
    out: dict[str, Callable | dict] = {}
    for group, module_name in SUBSYSTEMS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue
            raise
        cmds = module.COMMANDS
        if group in ("text", "app"):
            out.update(cmds)  # top-level verbs: `echovox phonemize`, `echovox synthesize`
        else:
            out[group] = cmds
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

    from .errors import AsrUnavailableError, SpeakerBackendError

    args = normalize_flags(sys.argv[1:] if argv is None else argv)
    tree = commands()
    try:
        CLI(tree, args=args, as_positional=True)
    except (*USER_ERRORS, AsrUnavailableError, SpeakerBackendError) as err:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.exit(f"{_command_name(tree, args)}: {err}\n(set {DEBUG_ENV}=1 for the traceback)")


if __name__ == "__main__":
    main()
