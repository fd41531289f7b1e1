"""Benchmark plumbing: the shared synthetic stream, per-operation normalisation, and the ratio table.

Every benchmark sets ``benchmark.extra_info["ops"]`` (operations per timed call) and lives in a group
shared by ours ("engine ...") and the peers. At the end of a timed run a table per group prints each
row's median per operation and its ratio to ours; ``--bench-table=PATH`` also writes it as Markdown.
Every benchmark asserts its result first, so ``--benchmark-disable`` (CI) is a correctness smoke test.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

# group -> (target for ours in ns per op, required ratio, the peer the ratio is taken against
# (None = the best peer)); from the project's acceptance list
TARGETS = {
    "depth diff -> book + bbo": (2000, 10, None),
    "top-20 both sides, static book": (500, None, None),
    "hmac-sha256 sign, 125 B query": (300, 4, "hmac.new(...).hexdigest()"),
    "params -> signed query": (800, None, None),
    "rate limit: acquire 1": (60, 9, "aiolimiter await acquire(1)"),
    "loopback diffs -> book (per diff)": (2500, None, None),  # >= 400k diffs/s through the book (first row)
}


def pytest_addoption(parser):
    parser.addoption("--bench-table", default=None, help="write the ratio table as Markdown here")


@pytest.fixture(scope="session")
def stream():
    from depth_stream import generate

    return generate()


def _rows(session):
    bs = getattr(session.config, "_benchmarksession", None)
    if bs is None or bs.disabled:
        return {}
    groups = {}
    for b in bs.benchmarks:
        if not b.stats or not b.stats.rounds:
            continue
        ops = b.extra_info.get("ops", 1)
        label = (b.params or {}).get("name") or b.name
        groups.setdefault(b.group or b.name, []).append((label, b.stats.median * 1e9 / ops))
    return groups


def _table(groups):
    out = []
    for group, rows in groups.items():
        ours = [ns for name, ns in rows if name.startswith("engine")]
        peers = [ns for name, ns in rows if not name.startswith(("engine", "floor"))]
        base = ours[0] if ours else min(ns for _, ns in rows)
        target = TARGETS.get(group)
        head = f"### {group}"
        if ours and target:
            ok = ours[0] <= target[0]
            head += f"  (target <= {target[0]} ns: {'met' if ok else f'MISSED by {ours[0] / target[0]:.2f}x'}"
            against = [ns for name, ns in rows if name == target[2]] if target[2] else peers
            if target[1] and against:
                ratio = min(against) / ours[0]
                who = target[2] or "best peer"
                head += f"; {who} / ours = {ratio:.1f}x, target >= {target[1]}x: " \
                        f"{'met' if ratio >= target[1] else 'MISSED'}"
            head += ")"
        out += ["", head, "", "| implementation | median per op | x ours |", "|---|---:|---:|"]
        for name, ns in sorted(rows, key=lambda r: r[1]):
            shown = f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"
            out.append(f"| {name} | {shown} | {ns / base:.2f} |")
    return "\n".join(out)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    groups = _rows(terminalreporter._session) if hasattr(terminalreporter, "_session") else {}
    if not groups:
        return
    text = _table(groups)
    terminalreporter.write_sep("=", "engine vs peers (same run; median per operation)")
    terminalreporter.write_line(text)
    path = config.getoption("--bench-table")
    if path:
        pathlib.Path(path).write_text(text.lstrip() + "\n")


def pytest_sessionstart(session):
    session.config._engine_session = session


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.register(_SessionRef(), "engine-bench-session")


class _SessionRef:
    def pytest_sessionstart(self, session):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter._session = session
