"""Errors a user can cause by choosing a backend this machine cannot run.

They live apart from eval/asr.py and eval/speaker.py so that the CLI's entry point can report
them without importing numpy and the backends at start-up.
"""

from __future__ import annotations


class AsrUnavailableError(RuntimeError):
    """No speech recogniser is installed, so a prompt transcript must be given."""


class SpeakerBackendError(RuntimeError):
    """A speaker-embedding backend that is unknown, not installed or cannot load its model."""
