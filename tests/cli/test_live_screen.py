"""The live screen: `engine run` with stdout a pseudo-terminal of 100 columns redraws its panels in place, one
per venue plus the account, fits 100 columns, and prints the end-of-run summary after SIGINT; plain lines
when stdout is not a terminal; `engine --version`."""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _pty_run(args, until, timeout=60.0):
    """Run ``engine ARGS`` on a 24x100 pty; SIGINT once ``until(text so far)``; (exit code, all output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "COLUMNS": "100", "LINES": "24", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    p = subprocess.Popen([sys.executable, "-m", "engine", *args], stdin=slave, stdout=slave, stderr=slave,
                         env=env, close_fds=True)
    os.close(slave)
    buf, sent = b"", False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        if not sent and until(buf.decode("utf-8", "replace")):
            p.send_signal(signal.SIGINT)
            sent = True
        if p.poll() is not None and not r:
            break
    if p.poll() is None:
        p.kill()
    rc = p.wait(timeout=30)
    os.close(master)
    return rc, sent, buf.decode("utf-8", "replace")


def test_the_live_screen_redraws_in_place_fits_100_columns_and_summarises_after_sigint():
    def ready(text):
        return text.count("own quotes:") >= 6  # two redraws of the three venue panels at least

    rc, sent, out = _pty_run(["run", "--duration", "50", "--interval", "0.5"], ready)
    assert sent, out[-3000:]
    assert rc == 0, out[-3000:]
    # redrawn in place: the cursor moves back up over the previous frame instead of scrolling it
    assert re.search(r"\x1b\[\d*A", out), "no cursor-up: the screen scrolls instead of redrawing"
    plain = ANSI.sub("", out)
    for title in ("binance", "lighter", "account"):
        assert re.search(rf"─ {title} ─", plain), title
    assert "book path p50=" in plain and "(n=" in plain and "positions:" in plain
    assert "run summary:" in plain and "fills=" in plain.split("run summary:")[-1]
    lines = [ln for chunk in plain.split("\n") for ln in chunk.split("\r")]
    panel_lines = [ln for ln in lines if ln.lstrip()[:1] in ("│", "╭", "╰")]
    assert panel_lines and max(len(ln.rstrip()) for ln in panel_lines) <= 100
    # the plain status lines are not printed while the screen is on
    assert "public trades seen:" not in plain


def test_plain_lines_when_stdout_is_not_a_terminal_and_the_version():
    out = subprocess.run([sys.executable, "-m", "engine", "run", "--duration", "2"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "public trades seen:" in out.stdout and "\x1b[" not in out.stdout
    assert "run summary:" in out.stdout
    v = subprocess.run([sys.executable, "-m", "engine", "--version"], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0 and re.fullmatch(r"engine \d+\.\d+\.\d+\S*\n", v.stdout), v.stdout
