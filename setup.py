"""Build the compiled hot path (ext/) into the ``engine`` package.

Only the Extension list and build switches live here; metadata is in pyproject.toml.

Environment switches (PEP 517 front-ends cannot pass setup.py flags, so these are env vars):
  ENGINE_BUILD=release   (default) bounds/wraparound checks off, -O3
  ENGINE_BUILD=debug     bounds, wraparound, initialized and overflow checks on, asserts on, -O1 -g;
                         used by the fuzz tests (tests/ext/test_fuzz_frames.py, tests/ext/test_fuzz_sanitized.py)
  ENGINE_ANNOTATE=1      write Cython's HTML annotation next to the generated C in build/cython
  ENGINE_EXT=a,b         build only these modules (developer convenience, e.g. "engine._book")
  ENGINE_CYTHON_DIR=D    write the generated C to D instead of build/cython-<mode>, so a build into a
                         temporary directory (tests/ext/test_fuzz_sanitized.py) shares no files with others

Source layout: ext/engine/_book.pyx builds module engine._book, with its declarations in
ext/engine/_book.pxd and include_path=["ext"]. Cython looks a module's .pxd up by the module's dotted
name under the include path, so the .pxd must sit at <include>/engine/_book.pxd; a plain ext/book.pxd
would be silently ignored.
"""
import os
import sys

from setuptools import Extension, setup

MODE = os.environ.get("ENGINE_BUILD", "release").strip().lower()
if MODE not in ("release", "debug"):
    sys.exit(f"ENGINE_BUILD must be 'release' or 'debug', not {MODE!r}")

# module name -> extra C sources (our own, in ext/include)
MODULES = {
    "engine._book": [],
    "engine._feed": [],
    "engine._sign": ["ext/include/sha256.c"],
    "engine._ratelimit": [],
    "engine._metrics": [],
    "engine._ws": [],  # cimports picows (pinned in [build-system]) and engine._book / engine._metrics
}

only = {m.strip() for m in os.environ.get("ENGINE_EXT", "").split(",") if m.strip()}
unknown = only - MODULES.keys()
if unknown:
    sys.exit(f"ENGINE_EXT names unknown modules {sorted(unknown)}; known: {sorted(MODULES)}")

DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "cdivision": True,
    "boundscheck": MODE == "debug",
    "wraparound": MODE == "debug",
    "initializedcheck": MODE == "debug",
    "overflowcheck": MODE == "debug",
    "freethreading_compatible": False,
}

if sys.platform == "win32":
    CFLAGS = ["/O2"]
elif MODE == "debug":
    # -Werror=int-conversion: gcc 14 makes it an error by default; fail here too, whatever the compiler
    CFLAGS = ["-O1", "-g", "-UNDEBUG", "-Werror=int-conversion"]
else:
    CFLAGS = ["-O3", "-DNDEBUG"]


def extensions():
    from Cython.Build import cythonize

    exts = []
    for name, c_sources in MODULES.items():
        if only and name not in only:
            continue
        stem = "ext/" + name.replace(".", "/")
        pxd = f"{stem}.pxd"
        exts.append(
            Extension(
                name,
                [f"{stem}.pyx", *c_sources],
                include_dirs=["ext/include"],
                depends=[p for p in (pxd, "ext/engine/_scan.pxd", *(f"ext/include/{h}" for h in _headers()))
                         if os.path.exists(p)],
                define_macros=[("ENGINE_BUILD_MODE", f'"{MODE}"')],
                extra_compile_args=CFLAGS,
            )
        )
    return cythonize(
        exts,
        include_path=["ext"],
        compiler_directives=DIRECTIVES,
        annotate=os.environ.get("ENGINE_ANNOTATE") == "1",
        build_dir=os.environ.get("ENGINE_CYTHON_DIR") or f"build/cython-{MODE}",
        # a directive change (release <-> debug) must regenerate the C even if the .pyx did not change
        force=os.environ.get("ENGINE_FORCE_CYTHON") == "1",
    )


def _headers():
    d = "ext/include"
    return sorted(f for f in os.listdir(d) if f.endswith(".h")) if os.path.isdir(d) else []


setup(ext_modules=extensions())
