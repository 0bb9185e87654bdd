"""echovox: VALL-E style zero-shot voice-cloning TTS on a neural codec language model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("echovox")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
