"""A backtest's numbers and its report: ``summary(result)``, ``series(result)``, ``write_report(result, dir)``.

``summary`` and ``series`` are plain computations on a ``BacktestResult`` (engine/backtest/runner.py), exact
``Decimal`` arithmetic, results as strings; they need nothing beyond the base install. ``write_report``
writes ``fills.csv``, ``orders.csv``, ``summary.json``, ``series.json`` (the data every plot is drawn
from), three PNGs (``equity.png``, ``inventory.png``, ``quotes.png``) and ``report.html``, one
self-contained page with the PNGs embedded as base64; the PNGs need matplotlib (the ``report`` extra,
drawn with its Agg backend, no display). ``missing()`` says what is not installed before anything runs.

The equity curve: after each fill and at each sampled mid (``result.marks``), the cash flow of the fills
so far plus each symbol's position at its latest mid (the latest fill price before any mid), minus the
fees so far. It ends at ``result.pnl_net``. The maximum drawdown is the largest fall of that curve from
its running peak (the peak starts at 0, the equity before any fill); PnL per hour is ``pnl_net`` over the
backtest's span (``end_ns - start_ns``) in hours.
"""
from __future__ import annotations

import base64
import csv
import decimal
import html
import io
import json
import os
from decimal import Decimal
from typing import Optional

MONEY = decimal.Context(prec=80)
ZERO = Decimal(0)
HINT = "the report extra (pip install 'engine[report]')"
PLOTS = ("equity", "inventory", "quotes")


def _plain(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def missing() -> Optional[str]:
    """What ``write_report`` needs that is not installed (its install hint), else None."""
    try:
        import matplotlib  # noqa: F401  (only when a report is asked for)
    except ImportError:
        return HINT
    return None


def _equity(result) -> list:
    """[(t_ns, equity)] as described in the module docstring, one point per fill and per mark."""
    events = [(f["t_ns"], 0, i) for i, f in enumerate(result.fills)] + \
             [(m[0], 1, i) for i, m in enumerate(result.marks)]
    events.sort()
    cash, pos, mark, fees = {}, {}, {}, ZERO
    out = []
    for t, kind, i in events:
        if kind == 0:
            f = result.fills[i]
            sym, px, qty = f["symbol"], Decimal(f["price"]), Decimal(f["qty"])
            sign = 1 if f["side"] == "buy" else -1
            cash[sym] = MONEY.subtract(cash.get(sym, ZERO), sign * MONEY.multiply(px, qty))
            pos[sym] = pos.get(sym, ZERO) + sign * qty
            fees = MONEY.add(fees, Decimal(f["fee"]))
            mark.setdefault(sym, px)
        else:
            _, sym, mid = result.marks[i]
            mark[sym] = Decimal(mid)
        eq = -fees
        for sym in cash:
            eq = MONEY.add(eq, MONEY.add(cash[sym], MONEY.multiply(pos[sym], mark.get(sym, ZERO))))
        out.append((t, eq))
    return out


def summary(result) -> dict:
    """The numbers of the summary table (exact decimals as strings): PnL gross and net, fees, fills (maker,
    taker), maker share of the notional, volume, maximum absolute inventory (overall and per symbol),
    maximum drawdown, PnL per hour, orders sent and rejected, the span in seconds."""
    inv: dict = {}
    for _, sym, p in result.positions:
        inv[sym] = max(inv.get(sym, ZERO), abs(Decimal(p)))
    peak, dd = ZERO, ZERO
    for _, eq in _equity(result):
        peak = max(peak, eq)
        dd = max(dd, MONEY.subtract(peak, eq))
    span = max(0, result.end_ns - result.start_ns)
    per_hour = MONEY.divide(MONEY.multiply(Decimal(result.pnl_net), 3_600_000_000_000), span) if span else ZERO
    return {"venue": result.venue, "seed": result.seed, "frames": result.frames,
            "start_ns": result.start_ns, "end_ns": result.end_ns,
            "span_s": _plain(Decimal(span).scaleb(-9)),
            "pnl_gross": result.pnl_gross, "pnl_net": result.pnl_net, "fees": result.fees,
            "fills": len(result.fills), "maker_fills": result.maker_fills, "taker_fills": result.taker_fills,
            "maker_share": result.maker_share, "volume": result.volume,
            "max_inventory": _plain(max(inv.values(), default=ZERO)),
            "max_inventory_by_symbol": {s: _plain(v) for s, v in sorted(inv.items())},
            "max_drawdown": _plain(dd), "pnl_per_hour": _plain(per_hour.quantize(Decimal("1e-8"))),
            "orders": len(result.orders),
            "rejected": sum(1 for o in result.orders if o["status"] == "rejected"),
            "final_positions": dict(result.final_positions)}


def series(result) -> dict:
    """The data the plots are drawn from, times in seconds since ``result.start_ns`` (floats, for drawing):
    ``equity`` [[t, equity]], ``inventory`` {symbol: [[t, position]]}, ``mid`` {symbol: [[t, mid]]},
    ``quotes`` {symbol: [[t_from, t_to, side, price]]} (each priced order from its arrival at the venue to
    when it became final, or the end), ``fills`` {symbol: [[t, side, price, qty, liquidity]]}."""
    t0, end = result.start_ns, result.end_ns

    def s(t: int) -> float:
        return (t - t0) / 1e9
    out: dict = {"equity": [[s(t), float(eq)] for t, eq in _equity(result)], "inventory": {}, "mid": {},
                 "quotes": {}, "fills": {}}
    for t, sym, p in result.positions:
        out["inventory"].setdefault(sym, []).append([s(t), float(Decimal(p))])
    for t, sym, mid in result.marks:
        out["mid"].setdefault(sym, []).append([s(t), float(Decimal(mid))])
    for o in result.orders:
        if o["price"] is None or o.get("arrival_ns") is None or o["status"] == "rejected":
            continue
        done = o.get("done_ns")
        out["quotes"].setdefault(o["symbol"], []).append(
            [s(o["arrival_ns"]), s(done if done is not None else max(end, o["arrival_ns"])), o["side"],
             float(Decimal(o["price"]))])
    for f in result.fills:
        out["fills"].setdefault(f["symbol"], []).append(
            [s(f["t_ns"]), f["side"], float(Decimal(f["price"])), float(Decimal(f["qty"])), f["liquidity"]])
    return out


def _csv(path: str, rows: list, columns: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})


FILL_COLUMNS = ["t_ns", "symbol", "client_order_id", "side", "price", "qty", "liquidity", "fee"]
ORDER_COLUMNS = ["client_order_id", "symbol", "side", "type", "price", "qty", "status", "reason", "filled",
                 "average_price", "fees", "sent_ns", "arrival_ns", "done_ns"]


def _plots(data: dict) -> dict:
    """{name: PNG bytes} for PLOTS, drawn with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    out = {}
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax = fig.add_subplot()
    eq = data["equity"]
    ax.step([p[0] for p in eq], [p[1] for p in eq], where="post", color="tab:blue")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set(title="Equity (net of fees, marked at the venue mid)", xlabel="seconds", ylabel="quote")
    out["equity"] = png(fig)

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for sym, pts in sorted(data["inventory"].items()):
        ax.step([0.0] + [p[0] for p in pts], [0.0] + [p[1] for p in pts], where="post", label=sym)
    ax.axhline(0, color="grey", linewidth=0.5)
    if data["inventory"]:
        ax.legend(loc="best")
    ax.set(title="Inventory", xlabel="seconds", ylabel="base units")
    out["inventory"] = png(fig)

    syms = sorted(set(data["mid"]) | set(data["quotes"]) | set(data["fills"])) or ["(none)"]
    fig = Figure(figsize=(9, 3.2 * len(syms)), layout="constrained")
    for k, sym in enumerate(syms):
        ax = fig.add_subplot(len(syms), 1, k + 1)
        mid = data["mid"].get(sym, [])
        ax.plot([p[0] for p in mid], [p[1] for p in mid], color="black", linewidth=0.8, label="mid")
        for t_from, t_to, side, px in data["quotes"].get(sym, []):
            ax.hlines(px, t_from, t_to, color="tab:green" if side == "buy" else "tab:red", linewidth=1.2, alpha=0.6)
        for side, color, marker in (("buy", "tab:green", "^"), ("sell", "tab:red", "v")):
            pts = [f for f in data["fills"].get(sym, []) if f[1] == side]
            if pts:
                ax.scatter([f[0] for f in pts], [f[2] for f in pts], color=color, marker=marker, zorder=3,
                           label=f"{side} fills")
        ax.set(title=f"{sym}: quotes vs mid, fills marked", xlabel="seconds", ylabel="price")
        ax.legend(loc="best")
    out["quotes"] = png(fig)
    return out


_ROWS = (("PnL gross", "pnl_gross"), ("PnL net", "pnl_net"), ("fees", "fees"), ("fills", "fills"),
         ("maker fills", "maker_fills"), ("taker fills", "taker_fills"), ("maker share", "maker_share"),
         ("volume", "volume"), ("max inventory", "max_inventory"), ("max drawdown", "max_drawdown"),
         ("PnL per hour", "pnl_per_hour"), ("orders", "orders"), ("rejected", "rejected"),
         ("span (s)", "span_s"))


def summary_rows(summ: dict) -> list:
    """(label, value) of the summary table, in the order shown (the CLI and the HTML page use it)."""
    return [(label, str(summ[key])) for label, key in _ROWS]


def _html(summ: dict, pngs: dict, title: str) -> str:
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows(summ))
    imgs = "\n".join(f'<h2>{name}</h2>\n<img alt="{name}" src="data:image/png;base64,'
                     f'{base64.b64encode(pngs[name]).decode("ascii")}">' for name in PLOTS)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}img{max-width:100%}</style>"
            f"</head><body>\n<h1>{html.escape(title)}</h1>\n<table>\n{rows}\n</table>\n{imgs}\n</body></html>\n")


def write_report(result, directory: str, *, title: str = "Backtest") -> dict:
    """Write the report files into ``directory`` (created if missing); returns {name: path}. Raises
    ``RuntimeError`` naming the extra when matplotlib is missing (nothing is written then) and ``OSError``
    when the directory cannot be written."""
    need = missing()
    if need:
        raise RuntimeError(f"the report's plots need matplotlib: install {need}")
    os.makedirs(directory, exist_ok=True)
    summ, data = summary(result), series(result)
    pngs = _plots(data)
    paths = {name: os.path.join(directory, name) for name in
             ("fills.csv", "orders.csv", "summary.json", "series.json", "report.html",
              *(f"{p}.png" for p in PLOTS))}
    _csv(paths["fills.csv"], result.fills, FILL_COLUMNS)
    _csv(paths["orders.csv"], result.orders, ORDER_COLUMNS)
    with open(paths["summary.json"], "w", encoding="utf-8") as f:
        json.dump(summ, f, indent=2, sort_keys=True)
    with open(paths["series.json"], "w", encoding="utf-8") as f:
        json.dump(data, f)
    for name in PLOTS:
        with open(paths[f"{name}.png"], "wb") as f:
            f.write(pngs[name])
    with open(paths["report.html"], "w", encoding="utf-8") as f:
        f.write(_html(summ, pngs, title))
    return paths


__all__ = ["summary", "series", "summary_rows", "write_report", "missing", "FILL_COLUMNS", "ORDER_COLUMNS"]
