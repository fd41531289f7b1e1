"""engine run --journal-dir writes the order and fill journal; engine history / engine report read it as a table
or CSV; a missing or foreign journal is one line and exit 2."""
import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal


def run_cli(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def test_run_journals_fills_that_history_and_report_print(tmp_path):
    jdir = tmp_path / "journal"
    out = run_cli("run", "--duration", "6", "--json", "--journal-dir", str(jdir))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])["summary"]
    assert summary["fills"] > 0, summary
    files = os.listdir(jdir)
    assert len(files) == 1 and files[0].endswith(".journal.sqlite"), files

    hist = run_cli("history", "--journal-dir", str(jdir), "--csv")
    assert hist.returncode == 0, hist.stderr
    rows = list(csv.DictReader(io.StringIO(hist.stdout)))
    # every fill the run counted is in the journal, with exact decimal prices and quantities
    assert len(rows) == summary["fills"]
    assert all(Decimal(r["quantity"]) > 0 and Decimal(r["price"]) > 0 for r in rows)
    volume = sum(Decimal(r["quantity"]) * Decimal(r["price"]) for r in rows)
    assert volume == Decimal(summary["volume"])

    table = run_cli("history", "--journal-dir", str(jdir))
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == ["ts", "venue", "symbol"]
    assert len(table.stdout.strip().splitlines()) == len(rows) + 1

    rep = run_cli("report", "--journal-dir", str(jdir), "--since", "1d", "--by", "symbol", "--csv")
    assert rep.returncode == 0, rep.stderr
    per_symbol = list(csv.DictReader(io.StringIO(rep.stdout)))
    assert sum(int(r["fills"]) for r in per_symbol) == len(rows)
    assert sum(Decimal(r["fees"]) for r in per_symbol) == Decimal(summary["fees"])
    by_day = run_cli("report", "--journal-dir", str(jdir), "--since", "1d")
    assert by_day.returncode == 0 and by_day.stdout.split()[0] == "day"
    # nothing since the future
    none = run_cli("history", "--journal-dir", str(jdir), "--since", "2100-01-01", "--csv")
    assert none.returncode == 0 and len(none.stdout.strip().splitlines()) == 1


def _one_line_exit_2(out, needle):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_a_missing_or_foreign_journal_is_one_line_and_exit_2(tmp_path):
    _one_line_exit_2(run_cli("history", "--journal-dir", str(tmp_path / "nowhere")), "no journal")
    (tmp_path / "x.journal.sqlite").write_text("not a database, just text\n" * 10)
    _one_line_exit_2(run_cli("report", "--journal-dir", str(tmp_path), "--since", "1d"), "x.journal.sqlite")
    _one_line_exit_2(run_cli("history", "--journal-dir", str(tmp_path), "--since", "soon"), "--since")
    _one_line_exit_2(run_cli("history", "--journal-dir", str(tmp_path), "--account", "other"), "no such journal")
