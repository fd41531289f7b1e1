"""Running a fuzzer script of tests/ext in subprocesses (a crash fails the caller's test, not pytest)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[2]


def run_fuzzer(script, lib, n, seeds, marker):
    """Run tests/ext/<script> against ``lib`` in one subprocess per seed, n inputs split among them; each
    must exit 0 and print its summary line (starting with ``marker``), which is echoed."""
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests/ext" / script), str(lib), str(n // len(seeds)),
                               str(seed), str(ROOT / "tests/data/binance")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in seeds]
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, f"{script} exited with {p.returncode} (negative = killed by a signal):\n{out[-3000:]}"
        assert marker in out
        print(out.strip())
