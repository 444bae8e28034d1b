"""The floors hold: faces -> resources -> records -> hooks -> exceptions; nothing imports the emulator.

Read from the source with ``ast`` (no import runs; imports inside functions count too), so a new
module that imports upwards, or sideways from one resource folder into another, fails here with
the file and the import named, before anyone has to untangle a circle.

* **Faces** (``operators/``, ``sensors/``, ``triggers/``, ``plugins/``, ``links.py``) are what Airflow
  loads; they may import anything below them.
* **Resources** (``contacts/``, ``deals/``, ``accounts/``, ``events/``, ``automations/``, ...) import
  their own folder and the floors below, never another resource: what two resources share belongs
  on the records floor.
* **Records** (``records/``): sources, the failure report, field values, names, the ratio rule.
* **Hooks** (``hooks/``): transport, limiter, lineage URIs; they import no resource and no record.
* **Exceptions** (``exceptions.py``) and the package root (``__version__``) import nothing above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "airflow_provider_activecampaign"
EMULATOR = "activecampaign_emulator"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

FACES = ("operators", "sensors", "triggers", "plugins", "links.py", "get_provider_info.py")
RECORDS = "records"
HOOKS = "hooks"
BOTTOM = ("exceptions.py", "__init__.py")
#: The package root holds only what Airflow and users import directly.
ROOT_MODULES = {"__init__.py", "get_provider_info.py", "exceptions.py", "links.py"}

#: Sideways imports between resource folders that another engineer's work removes. Each names its
#: owner; an entry not listed here fails. (Issue 20: "contacts" folds ``syncs/`` into ``contacts/``.)
ALLOWED_SIDEWAYS: set[tuple[str, str]] = set()


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _ours(names: Iterable[str]) -> list[str]:
    return [name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")]


def _top(module: str) -> str:
    """``airflow_provider_activecampaign.deals.sync`` -> ``deals``; a root module keeps its ``.py``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__.py"
    if (ROOT / parts[1]).is_dir():
        return parts[1]
    return parts[1] + ".py"


def _floor(top: str) -> int:
    """4 faces, 3 resources, 2 records, 1 hooks, 0 exceptions and the package root."""
    if top in FACES:
        return 4
    if top == RECORDS:
        return 2
    if top == HOOKS:
        return 1
    if top in BOTTOM:
        return 0
    return 3


def layering_violations(modules: Iterable[tuple[str, list[str]]]) -> list[str]:
    """What breaks the floors, from ``(path relative to the package, imported module names)`` pairs."""
    offenders: list[str] = []
    for relative, names in modules:
        top = relative.split("/")[0]
        for name in _ours(names):
            target = _top(name)
            if target == top:
                continue
            if _floor(target) > _floor(top):
                offenders.append(f"{relative} imports {name}: upwards ({top} -> {target})")
            elif _floor(top) == 3 and _floor(target) == 3 and (top, target) not in ALLOWED_SIDEWAYS:
                offenders.append(
                    f"{relative} imports {name}: sideways from resource {top}/ into {target}/; "
                    "move what they share to records/"
                )
            elif top in ("sensors", "triggers") and target == "operators":
                offenders.append(f"{relative} imports {name}: a {top[:-1]} never imports an operator")
    return offenders


def _modules() -> list[tuple[str, Path]]:
    return [(path.relative_to(ROOT).as_posix(), path) for path in sorted(ROOT.rglob("*.py"))]


def test_the_package_root_holds_only_the_public_entry_modules() -> None:
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name not in ROOT_MODULES)
    assert loose == [], f"modules at the package root belong in a resource folder: {loose}"


def test_no_product_module_imports_the_emulator() -> None:
    offenders = [
        f"{relative} imports {name}"
        for relative, path in _modules()
        for name in _imports(path)
        if name == EMULATOR or name.startswith(EMULATOR + ".") or _top(name) == "emulator"
    ]
    assert not (ROOT / "emulator").exists(), "the emulator is its own distribution (emulator/)"
    assert offenders == []


def test_the_floors_hold_faces_resources_records_hooks_exceptions() -> None:
    offenders = layering_violations((relative, _imports(path)) for relative, path in _modules())
    assert offenders == []


def test_every_allowed_sideways_import_is_still_needed() -> None:
    """An allowlist entry nobody needs any more is removed, so the rule tightens as work lands."""
    used = {
        (relative.split("/")[0], _top(name))
        for relative, path in _modules()
        for name in _ours(_imports(path))
    }
    assert used >= ALLOWED_SIDEWAYS, f"no longer needed: {sorted(ALLOWED_SIDEWAYS - used)}"


def test_the_rule_catches_a_sideways_import_between_resources() -> None:
    made_up = [
        ("deals/sync.py", [f"{PACKAGE}.contacts.mapping"]),
        ("events/tracking.py", [f"{PACKAGE}.records.failures", f"{PACKAGE}.hooks.activecampaign"]),
    ]
    assert layering_violations(made_up) == [
        f"deals/sync.py imports {PACKAGE}.contacts.mapping: sideways from resource deals/ into "
        "contacts/; move what they share to records/"
    ]


def test_the_rule_catches_imports_upwards_through_every_floor() -> None:
    made_up = [
        ("records/names.py", [f"{PACKAGE}.contacts.mapping"]),
        ("hooks/lineage.py", [f"{PACKAGE}.records.paths"]),
        ("exceptions.py", [f"{PACKAGE}.hooks.activecampaign"]),
        ("contacts/sync.py", [f"{PACKAGE}.operators.contacts"]),
        ("triggers/contacts.py", [f"{PACKAGE}.operators.contacts"]),
    ]
    offenders = layering_violations(made_up)
    assert [line.split(" imports ")[0] for line in offenders] == [
        "records/names.py",
        "hooks/lineage.py",
        "exceptions.py",
        "contacts/sync.py",
        "triggers/contacts.py",
    ]
    assert "upwards (records -> contacts)" in offenders[0]
    assert "never imports an operator" in offenders[4]
