"""Small helpers shared by the socket tests (tests/ is on sys.path through conftest.py)."""
import asyncio


async def wait_for(pred, timeout: float = 10.0, step: float = 0.05) -> None:
    """Poll ``pred()`` until true; fail the test (not hang it) after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not reached")


def shape(x):
    """The shape of a JSON value: same keys, same types (first element of lists), values dropped."""
    if isinstance(x, dict):
        return {k: shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [shape(x[0])] if x else []
    return type(x).__name__
