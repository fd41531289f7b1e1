"""Loading the compiled hot path, loudly.

The installed package has no pure-Python fallback: an engine sold on latency must not silently run
10x slower because a wheel was built without its extensions. ``load(name)`` imports one compiled
module or raises ImportError with the command that rebuilds it.
"""
import importlib

COMPILED = ("engine._book", "engine._feed", "engine._sign", "engine._ratelimit", "engine._metrics", "engine._ws")

REBUILD_HINT = (
    "the compiled hot path of 'engine' is missing or broken ({name}: {err}). "
    "Rebuild it with a C compiler: `pip install -e .` (or `python setup.py build_ext --inplace` "
    "in a source checkout); `engine doctor` shows what is built."
)


def load(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as err:  # pragma: no cover - exercised by tests/unit/test_build.py via a bogus name
        raise ImportError(REBUILD_HINT.format(name=name, err=err)) from err


def build_info() -> dict:
    """Build mode ('release'/'debug') of every compiled module, or the import error text."""
    info = {}
    for name in COMPILED:
        try:
            info[name] = importlib.import_module(name).BUILD_MODE
        except ImportError as err:
            info[name] = f"MISSING ({err})"
    return info
