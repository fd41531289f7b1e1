"""The debug build of every compiled module, made once per session for the tests that load it in a
subprocess (tests/ext/test_fuzz_sanitized.py, tests/ext/test_book_limits.py).

It goes to a temporary directory, generated C included (ENGINE_CYTHON_DIR), so neither the installed
release modules nor another build's build/cython-* are touched.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from fuzz_all import MODULES

ROOT = pathlib.Path(__file__).parents[2]


def build(out, mode, modules=MODULES):
    """Build ``modules`` with ENGINE_BUILD=mode into ``out``; returns the build's lib directory."""
    env = dict(os.environ, ENGINE_BUILD=mode, ENGINE_EXT=",".join(modules), ENGINE_CYTHON_DIR=str(out / "cython"))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out / "lib"),
                           "--build-temp", str(out / "tmp")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{mode} build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return out / "lib"


@pytest.fixture(scope="session")
def debug_lib(tmp_path_factory):
    if not (ROOT / "setup.py").exists() or not (ROOT / "ext").is_dir():
        pytest.skip("no source tree here (installed from a wheel): the debug build needs ext/ and setup.py")
    return build(tmp_path_factory.mktemp("debug-all"), "debug")

