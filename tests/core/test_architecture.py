"""The core knows no platform: walk every import in core/ and refuse outer packages."""
from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
FORBIDDEN = {"telegram", "nio", "discord", "adapters", "bots"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_platform_library_or_outer_package():
    offenders = {}
    files = list(CORE.rglob("*.py"))
    assert len(files) > 20  # the walk really found the core
    for path in files:
        bad = _imports(path) & FORBIDDEN
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


def test_domain_rules_never_read_the_clock():
    # Only the clock module (and column defaults) may ask the system for the time.
    allowed = {"clock.py", "models.py"}
    readers = []
    for path in CORE.rglob("*.py"):
        if path.name in allowed:
            continue
        src = path.read_text(encoding="utf-8")
        if "datetime.now(" in src or "datetime.utcnow(" in src or "date.today(" in src:
            readers.append(str(path.relative_to(CORE)))
    assert readers == []


def test_the_walk_would_catch_a_platform_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from telegram import Bot\nimport adapters.console_adapter\n")
    assert _imports(sneaky) & FORBIDDEN == {"telegram", "adapters"}
