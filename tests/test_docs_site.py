"""The documentation site (mkdocs.yml): it builds in strict mode, and its API reference is complete.

``mkdocs build --strict`` fails on a broken link or anchor between pages, a page missing from the
site, and an API reference (``::: module``) that cannot be collected. The reference pages are
generated from the package at build time (docs/reference/mkdocs_hooks.py), so "complete" is
checked against the package's own files: every public class of every public module, including the
ones added after this test was written, must have its anchor in the built reference.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", ROOT / "docs" / "reference" / "mkdocs_hooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def public_classes(root: Path = ROOT) -> dict[str, str]:
    """``{dotted class path: module}`` of every public top-level class of every public module."""
    found: dict[str, str] = {}
    for module in hooks.public_modules(root):
        path = root.joinpath(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[f"{module}.{node.name}"] = module
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocstrings") is None:
        pytest.fail("the docs tools are missing: install the 'docs' dependency group (scripts/test.sh does)")
    out = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    print(f"mkdocs build --strict: {time.monotonic() - started:.1f} s")
    problems = [line for line in result.stderr.splitlines() if not line.startswith("INFO")]
    assert result.returncode == 0, "\n".join(problems) or result.stderr
    return out


def test_the_site_builds_in_strict_mode_with_every_page(site: Path) -> None:
    """Every Markdown page under docs/ is a page of the site (no nav list to forget a page in)."""
    for page in sorted((ROOT / "docs").rglob("*.md")):
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        built = (
            site / relative.parent / "index.html"
            if relative.name == "index"
            else site / relative / "index.html"
        )
        assert built.is_file(), f"docs/{relative}.md has no page in the site"


def test_every_public_class_is_in_the_api_reference(site: Path) -> None:
    reference = "\n".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    anchors = set(re.findall(r'\bid="(airflow_provider_activecampaign\.[\w.]+)"', reference))
    classes = public_classes()
    # The faces the issue names are there, whatever else is added later.
    for expected in (
        "airflow_provider_activecampaign.hooks.activecampaign.ActiveCampaignHook",
        "airflow_provider_activecampaign.operators.contacts.ActiveCampaignSyncContactsOperator",
        "airflow_provider_activecampaign.exceptions.ActiveCampaignError",
    ):
        assert expected in classes
    assert sorted(set(classes) - anchors) == [], "public classes missing from the API reference"
    modules = set(classes.values())
    assert sorted(modules - anchors) == []


def test_the_reference_of_a_class_shows_its_docstring_and_signature(site: Path) -> None:
    html = (site / "reference" / "hooks" / "index.html").read_text(encoding="utf-8")
    assert 'id="airflow_provider_activecampaign.hooks.activecampaign.ActiveCampaignHook.get"' in html
    assert "activecampaign_conn_id" in html


# --------------------------------------------------------------------------------------------------
# The generator itself, on a scratch package
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    package = tmp_path / hooks.PACKAGE
    for relative in (
        "__init__.py",
        "exceptions.py",
        "hooks/__init__.py",
        "hooks/activecampaign.py",
        "hooks/_private.py",
        "deals/__init__.py",
        "deals/sync.py",
        "emulator/__main__.py",
    ):
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("class Thing:\n    pass\n", encoding="utf-8")
    return tmp_path


def test_modules_are_found_by_walking_the_files(scratch: Path) -> None:
    assert hooks.public_modules(scratch) == [
        f"{hooks.PACKAGE}.deals.sync",
        f"{hooks.PACKAGE}.exceptions",
        f"{hooks.PACKAGE}.hooks.activecampaign",
    ]


def test_a_new_resource_folder_lands_on_the_catch_all_page(scratch: Path) -> None:
    modules = hooks.public_modules(scratch)
    selectors = ["hooks", "exceptions", "*"]
    assert hooks.expand_reference("<!-- reference: hooks -->", selectors, modules) == (
        f"::: {hooks.PACKAGE}.hooks.activecampaign"
    )
    assert hooks.expand_reference("# All\n<!-- reference: * -->\n", selectors, modules) == (
        f"# All\n::: {hooks.PACKAGE}.deals.sync\n"
    )


def test_links_outside_the_docs_become_paths_unless_broken(tmp_path: Path) -> None:
    docs = ROOT / "docs"
    page = docs / "examples.md"
    text = (
        "[the DAG](../dags_examples/activecampaign_daily_export.py) "
        "[`dags_examples/`](../dags_examples/) [gone](../dags_examples/missing.py) "
        "[page](connection.md#extras) [web](https://example.com)"
    )
    assert hooks.outside_links_as_paths(text, page, docs) == (
        "the DAG (`dags_examples/activecampaign_daily_export.py`) `dags_examples/` "
        "[gone](../dags_examples/missing.py) [page](connection.md#extras) [web](https://example.com)"
    )
