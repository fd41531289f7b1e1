"""Shared test plumbing.

Every ``async def test_*`` runs twice, on the stdlib asyncio loop and on uvloop (the engine's
production loop), with a fresh loop per test. No pytest-asyncio: this hook is the whole plugin.
Tests that must run on one loop only can take ``loop_kind`` and ``pytest.skip``.
"""
import asyncio
import inspect
import pathlib
import sys

import pytest

DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(DATA.parent))  # tests/helpers.py, tests/connectors/binance_env.py
LOOP_KINDS = ("asyncio", "uvloop")
ASYNC_TIMEOUT = 60.0  # a hung socket test fails instead of hanging CI


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def pytest_generate_tests(metafunc):
    if inspect.iscoroutinefunction(metafunc.function) and "loop_kind" not in metafunc.fixturenames:
        metafunc.fixturenames.append("loop_kind")
    if "loop_kind" in metafunc.fixturenames:
        metafunc.parametrize("loop_kind", LOOP_KINDS)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    loop = new_loop(pyfuncitem.callspec.params["loop_kind"])
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asyncio.wait_for(fn(**kwargs), ASYNC_TIMEOUT))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    return True


@pytest.fixture
def data_dir() -> pathlib.Path:
    return DATA
