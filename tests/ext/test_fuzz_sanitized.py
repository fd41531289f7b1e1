"""Every compiled module builds in debug (and, opt-in, under ASan/UBSan), and every entry point is fuzzed there.

The debug build is tests/ext/conftest.py's ``debug_lib`` (a temporary directory; the installed release
modules are not touched). Everything that loads a build runs in a subprocess: a crash fails the test
instead of killing pytest.
ENGINE_FUZZ_ALL scales the debug fuzz run of tests/ext/fuzz_all.py (default 400,000 inputs);
ENGINE_SANITIZE_TEST=1 also runs .ci/sanitize briefly from here (CI runs .ci/sanitize itself).
"""
import os
import pathlib
import subprocess
import sys

import pytest
from fuzz_run import run_fuzzer

from fuzz_all import MODULES

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[1]
N = int(os.environ.get("ENGINE_FUZZ_ALL", "400000"))


def test_every_module_builds_in_debug_and_imports_as_debug(debug_lib):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from fuzz_all import use_build\n"
            "for name, mod in use_build(sys.argv[2]).items(): print(name, mod.BUILD_MODE)")
    proc = subprocess.run([sys.executable, "-c", code, str(HERE), str(debug_lib)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [w for name in MODULES for w in (name, "debug")]


@pytest.mark.slow
def test_every_entry_point_fuzzed_against_the_debug_build(debug_lib):
    run_fuzzer("fuzz_all.py", debug_lib, N, (100, 101), "fuzz_all:")


def test_misuse_cases_against_the_debug_build(debug_lib):
    """tests/ext/test_misuse.py's cases once more, with bounds and overflow checks on."""
    env = dict(os.environ, ENGINE_MISUSE_BUILD=str(debug_lib))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_misuse.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ENGINE_SANITIZE_TEST") != "1", reason="ENGINE_SANITIZE_TEST=1 runs .ci/sanitize "
                    "briefly (CI runs .ci/sanitize itself)")
def test_sanitizer_run_is_clean():
    env = dict(os.environ, ENGINE_SANITIZE_INPUTS="20000")
    proc = subprocess.run([str(ROOT / ".ci/sanitize")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
