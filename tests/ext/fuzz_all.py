"""Load a build of the compiled modules from a directory instead of the installed ones.

``use_build(lib)`` puts ``lib/engine`` first on ``engine.__path__``, so ``import engine._book`` (and every
face: engine.book, engine.sign, ...) finds the build in ``lib`` (e.g. a debug build from setup.py
``build_ext --build-lib lib``); engine._ws's cimports of engine._book and engine._metrics then resolve to
the same build. Call it before anything imports a compiled module.
"""
import importlib
import os
import sys

MODULES = ("engine._metrics", "engine._book", "engine._feed", "engine._sign", "engine._ratelimit", "engine._ws")


def use_build(lib, mode=None):
    """Import every compiled module from ``lib``; with ``mode``, check each reports that BUILD_MODE."""
    import engine

    loaded = [m for m in MODULES if m in sys.modules]
    assert not loaded, f"already imported from elsewhere: {loaded}"
    engine.__path__.insert(0, os.path.join(str(lib), "engine"))
    mods = {name: importlib.import_module(name) for name in MODULES}
    for name, mod in mods.items():
        assert os.path.realpath(mod.__file__).startswith(os.path.realpath(str(lib))), (name, mod.__file__)
        assert mode is None or mod.BUILD_MODE == mode, f"{name} is a {mod.BUILD_MODE} build, not {mode}"
    return mods


class Owner:
    """A StreamListener owner that keeps what each callback was given (books: (key, outcome))."""

    def __init__(self):
        self.books, self.control, self.streams, self.garbage = [], [], [], []

    @property
    def outcomes(self):
        return [outcome for _, outcome in self.books]

    def on_book(self, key, outcome):
        self.books.append((key, outcome))

    def on_control(self, raw):
        self.control.append(raw)

    def on_stream(self, key, raw):
        self.streams.append((key, raw))

    def on_garbage(self, raw):
        self.garbage.append(raw)
