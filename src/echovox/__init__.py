"""echovox: VALL-E style zero-shot voice-cloning TTS on a neural codec language model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("echovox")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Synthesizer", "__version__"]


def __getattr__(name: str):
    # lazy: `import echovox` must stay light (no torch) for `echovox --help` and the recipes
    if name == "Synthesizer":
        from echovox.app.synthesizer import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'echovox' has no attribute {name!r}")
