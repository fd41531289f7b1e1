"""The venue seam: venue knowledge lives in the venue's packages, and no shared module names a venue.

The rule, checked on code, not prose:
- A *shared module* is every ``.py`` under ``engine/`` outside ``engine/connectors/<venue>/`` and
  ``engine/sim/<venue>/`` (``<venue>`` a name registered in ``engine/connectors/factory.py``).
- In a shared module no *code token* may contain a venue's name (any registered name, case-insensitive, as
  a substring, so ``binance_error`` and ``LighterConnector`` count) or a venue's protocol token
  (``VENUE_TOKENS``: ``x-mbx``, ``/api/v3``, ``listenKey``, ...). Code tokens are identifiers (names,
  attributes, definitions, arguments, keywords, imported modules and aliases) and string literals,
  f-string pieces included. Comments and docstrings (the first string of a module, class or function)
  are prose: they may mention a venue as an example.
- The one exemption is the registration itself: the arguments of each ``VenueSpec(...)`` call in the
  factory.
- Simulators are independent witnesses: nothing under ``engine/sim/`` imports (or names as a module
  string) ``engine.connectors``, ``engine.book``, ``engine.sign`` or any ``engine._*`` module.
- A venue's packages do not reach into another venue's, and its connector does not import the simulators.
  One exception, the product rule: a venue named ``<family>_<product>`` whose ``<family>`` is a registered
  venue (``binance_futures`` of ``binance``: the same exchange) may import that family's packages, its
  connector ``engine.connectors.<family>`` and its simulator ``engine.sim.<family>``, to share what is the
  same there (auth, transport, error mechanics, filters; the spot simulator's weight window); never the
  reverse: the family's packages import none of its products'.

Shared files that still name a venue and belong to other work are marked ``xfail(strict=True)`` one by one
with the reason; when one is cleaned its test passes unexpectedly and fails, so the mark must go.
"""
from __future__ import annotations

import ast
import pathlib
import re

import pytest

from engine.connectors.factory import ConnectorFactory

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
VENUES = tuple(ConnectorFactory.available())
# protocol facts of one venue that would betray venue knowledge even without its name
VENUE_TOKENS = ("x-mbx", "/api/v3", "/api/v1", "listenkey", "ws-api", "exchangeinfo", "sendtx", "zklighter")
PATTERN = re.compile("|".join(re.escape(t) for t in (*VENUES, *VENUE_TOKENS)), re.IGNORECASE)
SIM_MAY_NOT_IMPORT = re.compile(r"^engine\.(connectors|book|sign|_\w+)(\.|$)")


# a venue's simulator that lands before its connector and registration (then it is a venue package like the
# others, and its entry must go: test_pending_simulators_are_not_registered_yet)
PENDING_SIMULATORS: dict = {}


def _venue_dirs() -> list:
    return [ENGINE / kind / v for kind in ("connectors", "sim") for v in VENUES] + \
        [ENGINE / "sim" / v for v in PENDING_SIMULATORS]


def test_pending_simulators_are_not_registered_yet():
    for name in PENDING_SIMULATORS:
        assert (ENGINE / "sim" / name).is_dir(), f"engine/sim/{name} is gone: drop its entry"
        assert name not in VENUES, f"{name} is registered now: drop its PENDING_SIMULATORS entry"


def shared_modules() -> list:
    own = _venue_dirs()
    return sorted(p for p in ENGINE.rglob("*.py") if not any(d in p.parents for d in own))


def _docstrings(tree: ast.AST) -> set:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def _registrations(tree: ast.AST) -> set:
    """Every node inside a ``VenueSpec(...)`` call: the registrations, the one place a venue is named."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "VenueSpec":
            out.update(id(n) for n in ast.walk(node))
    return out


def code_tokens(source: str):
    """(line, token) for every identifier and non-docstring string literal of ``source``."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | _registrations(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Name):
            toks = [node.id]
        elif isinstance(node, ast.Attribute):
            toks = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            toks = [node.name]
        elif isinstance(node, ast.arg):
            toks = [node.arg]
        elif isinstance(node, ast.keyword):
            toks = [node.arg or ""]
        elif isinstance(node, ast.alias):
            toks = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            toks = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            toks = [node.value]
        else:
            continue
        for t in toks:
            yield getattr(node, "lineno", 0), t


def venue_mentions(source: str) -> list:
    return [(line, tok[:80]) for line, tok in code_tokens(source) if PATTERN.search(tok)]


def imported_modules(path: pathlib.Path, source: str):
    """Absolute names of every module ``path`` imports (relative imports resolved), and module-like strings."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("engine."):
            yield node.value.partition(":")[0]


# shared files that still carry venue knowledge, owned by other work, each with what is left (none now)
STILL_VENUE_SPECIFIC: dict = {}


def _param(path: pathlib.Path):
    rel = path.relative_to(ROOT).as_posix()
    marks = [pytest.mark.xfail(strict=True, reason=STILL_VENUE_SPECIFIC[rel])] if rel in STILL_VENUE_SPECIFIC else []
    return pytest.param(path, id=rel, marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in shared_modules()])
def test_no_shared_module_names_a_venue(path):
    found = venue_mentions(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)} names a venue in code (move it into the venue's package): {found}"


def test_the_exemptions_are_still_real_files():
    for rel in STILL_VENUE_SPECIFIC:
        assert (ROOT / rel).is_file(), f"{rel} is gone: drop its entry"


def test_the_check_sees_code_and_ignores_prose():
    caught = venue_mentions('def check(venue):\n    """Docstring: binance is an example here."""\n'
                            '    # a comment about Lighter\n    if venue == "binance":\n        return 1\n')
    assert caught == [(4, "binance")]
    assert venue_mentions("x = conn.binance_error\n") and venue_mentions("from engine.connectors.lighter import a\n")
    assert venue_mentions('h = f"X-MBX-USED-WEIGHT-{n}"\n') and venue_mentions("LighterConnector = 1\n")
    assert venue_mentions('VenueSpec("binance", connector="m:C")\n') == []  # the registration itself
    assert venue_mentions('"""Module docstring naming Binance."""\nx = 1  # and Lighter\n') == []


def test_the_registration_is_the_only_venue_knowledge_in_the_factory():
    path = ENGINE / "connectors" / "factory.py"
    assert path in shared_modules() and venue_mentions(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", sorted((ENGINE / "sim").rglob("*.py")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_simulators_import_no_engine_code_they_witness(path):
    bad = sorted({m for m in imported_modules(path, path.read_text(encoding="utf-8")) if SIM_MAY_NOT_IMPORT.match(m)})
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: a simulator must not share the code it checks"


def family_of(venue: str):
    """The registered venue ``<family>`` of a venue named ``<family>_<product>``, else None."""
    family = venue.rpartition("_")[0]
    return family if family in VENUES else None


def _is_module_of(mod: str, package: str) -> bool:
    return mod == package or mod.startswith(package + ".")


@pytest.mark.parametrize("venue", VENUES)
def test_a_venue_package_knows_no_other_venue_and_no_simulator(venue):
    others = [v for v in VENUES if v != venue and v != family_of(venue)]
    for path in sorted((ENGINE / "connectors" / venue).rglob("*.py")):
        mods = set(imported_modules(path, path.read_text(encoding="utf-8")))
        bad = sorted(m for m in mods if _is_module_of(m, "engine.sim")
                     or any(_is_module_of(m, f"engine.connectors.{o}") for o in others))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    for path in sorted((ENGINE / "sim" / venue).rglob("*.py")):
        mods = set(imported_modules(path, path.read_text(encoding="utf-8")))
        bad = sorted(m for m in mods if any(_is_module_of(m, f"engine.sim.{o}") for o in others))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_product_rule():
    """``binance_futures`` may use ``binance``'s packages; ``binance`` none of ``binance_futures``'."""
    assert family_of("binance_futures") == "binance" and family_of("binance") is None
    assert family_of("lighter") is None
    assert not _is_module_of("engine.connectors.binance_futures.client", "engine.connectors.binance")


def test_venue_settings_modules_are_light():
    import subprocess
    import sys

    code = ("import sys; from engine.connectors.factory import ConnectorFactory as F; "
            "[F.settings_class(n) for n in F.available()]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'picows', 'orjson', 'lighter')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
