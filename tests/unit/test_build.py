"""The package imports cheaply, and a missing compiled module fails loudly with the rebuild command."""
import subprocess
import sys

import pytest

from engine import _build


def test_importing_engine_loads_no_compiled_module_and_sets_no_loop_policy():
    code = ("import sys, asyncio; import engine; "
            "assert not [m for m in sys.modules if m.startswith('engine._') and m != 'engine._build'], sys.modules; "
            "assert 'uvloop' not in sys.modules; "
            "assert type(asyncio.get_event_loop_policy()).__module__.startswith('asyncio'); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_missing_extension_raises_with_the_rebuild_hint():
    with pytest.raises(ImportError, match=r"pip install -e \.") as exc:
        _build.load("engine._no_such_module")
    assert "engine doctor" in str(exc.value)


def test_every_compiled_module_is_present_and_reports_its_build_mode():
    info = _build.build_info()
    assert set(info) == set(_build.COMPILED)
    for name, mode in info.items():
        assert mode in ("release", "debug"), f"{name}: {mode}"


def test_lazy_public_names():
    import engine

    assert engine.OrderBook.__name__ == "OrderBook"
    assert engine.Signer.__name__ == "Signer"
    with pytest.raises(AttributeError):
        engine.NoSuchThing  # noqa: B018
