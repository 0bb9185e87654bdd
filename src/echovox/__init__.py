"""echovox: VALL-E style zero-shot voice-cloning TTS on a neural codec language model."""

from echovox.version import package_version

__version__ = package_version()

__all__ = ["Synthesizer", "__version__"]


def __getattr__(name: str):
    # lazy: `import echovox` must stay light (no torch) for `echovox --help` and the recipes.
    # The facade sits above every layer (tests/test_layers.py): nothing inside imports it.
    if name == "Synthesizer":
        from echovox.app.synthesizer import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'echovox' has no attribute {name!r}")
