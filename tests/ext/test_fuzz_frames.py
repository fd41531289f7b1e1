""">= 1 million mutated frames against a DEBUG build (bounds checks on): no crash, only FrameError.

The debug build is tests/ext/conftest.py's ``debug_lib`` (a temporary directory; the installed release
modules are untouched) and the fuzzer runs in subprocesses, so a segfault shows up as a failed test
instead of killing pytest.
ENGINE_FUZZ_FRAMES scales the run (default 1,000,000).
"""
import os

import pytest
from fuzz_run import run_fuzzer

N = int(os.environ.get("ENGINE_FUZZ_FRAMES", "1000000"))


@pytest.mark.slow
def test_a_million_mutated_frames_only_raise_frame_error(debug_lib):
    run_fuzzer("fuzz_frames.py", debug_lib, N, (0, 1), "fuzz:")
