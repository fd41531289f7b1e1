"""Logging for the engine: stdlib logging, optional JSON lines, secrets masked, I/O off the event loop.

``setup_logging(level, json_lines, secrets)`` installs a QueueHandler on the root logger (so formatting and
writing happen on a listener thread, never in a socket callback) and a filter that replaces every known
secret with ``****`` in the final message, whatever code logged it. Nothing on the hot path logs per
message: the compiled path counts, and status lines report the counts.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from typing import Iterable, Optional

_listener: Optional[logging.handlers.QueueListener] = None


class SecretMaskingFilter(logging.Filter):
    """Replaces each secret (and its first 12 characters, which alone identify it) with ****."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        parts = set()
        for s in secrets:
            if s and len(s) >= 8:
                parts.add(s)
                parts.add(s[:12])
        self._secrets = sorted(parts, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            msg = record.getMessage()
            masked = self.mask(msg)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.mask(record.exc_text)
            if masked != msg:
                record.msg, record.args = masked, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with stable keys: ts, level, logger, msg (+ exc, + any ``extra`` fields)."""

    _STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 6), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage()}
        for k, v in vars(record).items():
            if k not in self._STD and not k.startswith("_"):
                out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
        if record.exc_info or record.exc_text:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO", json_lines: bool = False, secrets: Iterable[str] = (),
                  stream=None) -> None:
    global _listener
    stop_logging()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    masking = SecretMaskingFilter(secrets)
    handler.addFilter(masking)
    q: queue.SimpleQueue = queue.SimpleQueue()
    qh = logging.handlers.QueueHandler(q)
    qh.addFilter(masking)  # mask before the record crosses threads (args are rendered here)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(qh)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("picows").setLevel(logging.WARNING)  # one INFO line per connection otherwise
    _listener = logging.handlers.QueueListener(q, handler, respect_handler_level=True)
    _listener.start()


def stop_logging() -> None:
    """Flush and stop the listener thread (call at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
