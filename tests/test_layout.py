"""The package's floors hold: faces -> resources -> hooks -> exceptions, and nothing imports the emulator.

Read from the source with ``ast`` (no import runs), so a new module that imports upwards fails here
with the file and the import named, before anyone has to untangle a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "airflow_provider_activecampaign"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

FACES = ("operators", "sensors", "triggers", "plugins")
#: The package root holds only what Airflow and users import directly.
ROOT_MODULES = {"__init__.py", "get_provider_info.py", "exceptions.py", "links.py"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")]


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> list[tuple[str, Path]]:
    return [
        (path.relative_to(ROOT).parts[0], path)
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] != "emulator"
    ]


def test_the_package_root_holds_only_the_public_entry_modules() -> None:
    loose = sorted(p.name for p in ROOT.glob("*.py") if p.name not in ROOT_MODULES)
    assert loose == [], f"modules at the package root belong in a resource folder: {loose}"


def test_no_product_module_imports_the_emulator() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for _, path in _modules()
        for name in _imports(path)
        if _top(name) == "emulator"
    ]
    assert offenders == []


def test_resources_and_hooks_never_import_a_face() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for top, path in _modules()
        if top not in FACES and top not in ("get_provider_info.py", "links.py")
        for name in _imports(path)
        if _top(name) in FACES
    ]
    assert offenders == []


def test_sensors_and_triggers_never_import_an_operator_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for top, path in _modules()
        if top in ("sensors", "triggers")
        for name in _imports(path)
        if _top(name) == "operators"
    ]
    assert offenders == []


def test_hooks_import_no_resource_module() -> None:
    resources = {p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in (*FACES, "hooks", "emulator")}
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for top, path in _modules()
        if top == "hooks"
        for name in _imports(path)
        if _top(name) in resources
    ]
    assert offenders == []
