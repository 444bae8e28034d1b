"""The documentation site (mkdocs.yml): it builds in strict mode, and its API reference is complete.

``mkdocs build --strict`` fails on a broken link or anchor between pages, a page missing from the
site, and an API reference (``::: module``) that cannot be collected. The reference pages are
generated from the package at build time (docs/reference/mkdocs_hooks.py), so "complete" is
checked against the package's own files: every public class of every public module, including the
ones added after this test was written, must have its anchor in the built reference.
"""

from __future__ import annotations

import ast
import html
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.once import built_once

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
        path = hooks.module_file(module, root)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[f"{module}.{node.name}"] = module
    return found


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: built once for the run, whichever workers its tests land on."""
    if importlib.util.find_spec("mkdocstrings") is None:
        pytest.fail("the docs tools are missing: install the 'docs' dependency group (scripts/test.sh does)")
    return built_once(tmp_path_factory, "docs-site", _build_site)


def _build_site(out: Path) -> None:
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
    anchors = set(
        re.findall(r'\bid="((?:airflow_provider_activecampaign|activecampaign_emulator)\.[\w.]+)"', reference)
    )
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


def _keyword_default(cls: type, name: str) -> object:
    """The default of keyword ``name`` where the class accepts it: its own ``__init__`` or, through
    ``**kwargs``, the nearest base class's. ``inspect.Parameter.empty`` when it has none."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        param = inspect.signature(init).parameters.get(name)
        if param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return param.default
    return inspect.Parameter.empty


def _required_parameters(page: str) -> list[tuple[str, str]]:
    """``(object path, parameter)`` of every parameter the page shows as *required*."""
    found = []
    heading = re.compile(r'<h\d id="([\w.]+)"')
    row = re.compile(r'<tr class="doc-section-item">(.*?)</tr>', re.DOTALL)
    for match in row.finditer(page):
        if "<em>required</em>" not in match.group(1):
            continue
        name = re.search(r"<code>(\w+)</code>", match.group(1))
        owners = heading.findall(page, 0, match.start())
        if name and owners:
            found.append((html.unescape(owners[-1]), name.group(1)))
    return found


def test_no_parameter_with_a_default_is_shown_as_required(site: Path) -> None:
    """Keywords a class takes through ``**kwargs`` (``source_path``, ``sql``, ... of the records
    operators) are shown with their defaults (docs/reference/griffe_inherited_keywords.py)."""
    checked = 0
    wrong = []
    for page in sorted((site / "reference").rglob("*.html")):
        for owner, name in _required_parameters(page.read_text(encoding="utf-8")):
            module, _, attribute = owner.rpartition(".")
            try:
                target = getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError, ValueError):
                continue  # a module-level heading: nothing to compare with
            if not isinstance(target, type):
                continue
            checked += 1
            if _keyword_default(target, name) is not inspect.Parameter.empty:
                wrong.append(f"{owner}: {name}")
    assert checked > 0, "no required parameter found at all: the page format changed, fix the parser"
    assert wrong == [], "parameters with a default shown as required"
    operators = (site / "reference" / "operators" / "index.html").read_text(encoding="utf-8")
    deals = operators.index(
        'id="airflow_provider_activecampaign.operators.deals.ActiveCampaignSyncDealsOperator"'
    )
    assert "source_path" in operators[deals : deals + 20000]


def test_the_navigation_starts_with_getting_started_and_ends_with_contributors(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    titles = [
        html.unescape(t).strip()
        for t in re.findall(
            r'class="md-nav__link[^"]*"[^>]*>\s*(?:<span class="md-ellipsis">)?\s*([^<]+)', index
        )
    ]
    assert titles.index("Getting started") < titles.index("Operators") < titles.index("API reference")
    # The page's own table of contents comes after the site's navigation: the last "For contributors"
    # is the navigation's section when it is the last one.
    last = len(titles) - 1 - titles[::-1].index("For contributors")
    assert titles.index("API reference") < last


def test_a_page_missing_from_the_nav_is_added_under_more() -> None:
    nav = [{"Home": "index.md"}, {"For contributors": [{"Architecture": "architecture.md"}]}]
    assert hooks.nav_with_every_page(nav, ["index.md", "architecture.md", "metrics.md"]) == [
        {"Home": "index.md"},
        {"More": ["metrics.md"]},
        {"For contributors": [{"Architecture": "architecture.md"}]},
    ]
    assert hooks.nav_with_every_page(nav, ["index.md", "architecture.md"]) == nav


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
