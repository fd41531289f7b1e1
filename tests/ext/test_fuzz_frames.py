""">= 1 million mutated frames against a DEBUG build (bounds checks on): no crash, only FrameError.

The debug build goes to a temporary directory (the installed release modules are untouched) and the
fuzzer runs in a subprocess, so a segfault shows up as a failed test instead of killing pytest.
ENGINE_FUZZ_FRAMES scales the run (default 1,000,000).
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
N = int(os.environ.get("ENGINE_FUZZ_FRAMES", "1000000"))


@pytest.fixture(scope="module")
def debug_build(tmp_path_factory):
    if not (ROOT / "setup.py").exists() or not (ROOT / "ext").is_dir():
        pytest.skip("no source tree here (installed from a wheel): the debug build needs ext/ and setup.py")
    out = tmp_path_factory.mktemp("debug-build")
    env = dict(os.environ, ENGINE_BUILD="debug", ENGINE_EXT="engine._book,engine._feed")
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out / "lib"),
                           "--build-temp", str(out / "tmp")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "lib"


@pytest.mark.slow
def test_a_million_mutated_frames_only_raise_frame_error(debug_build):
    workers = 2
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests/ext/fuzz_frames.py"), str(debug_build),
                               str(N // workers), str(seed), str(ROOT / "tests/data/binance")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in range(workers)]
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, f"fuzzer exited with {p.returncode} (negative = killed by a signal):\n{out[-3000:]}"
        assert "fuzz:" in out
        print(out.strip())
