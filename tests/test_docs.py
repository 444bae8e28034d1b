"""The docs cannot rot: links, anchors, generated blocks, code and connection examples are checked.

* every relative link and image in README.md and docs/**/*.md points at a file that exists, and
  every ``#anchor`` at a heading (GitHub's slugs) of the page it names;
* every docs page is reachable from docs/index.md;
* every generated block (``<!-- include: ... -->``, ``<!-- error-example: ... -->``, see
  scripts/sync_docs.py) matches its source: example DAG code is quoted, never pasted, and the error
  messages shown are the ones the provider raises today;
* every ``python`` code block parses, and what it imports from the provider exists;
* every ``AIRFLOW_CONN_...='...'`` example is a connection the hook accepts.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load_sync_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_docs", ROOT / "scripts" / "sync_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sync_docs", module)
    spec.loader.exec_module(module)
    return module


sync_docs = _load_sync_docs()
MARKDOWN = sync_docs.markdown_files(ROOT)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\s(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<a\b[^>]*?\s(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CONN_EXAMPLE = re.compile(r"AIRFLOW_CONN_([A-Z0-9_]+)='([^']*)'")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------------------------------
# Reading Markdown
# --------------------------------------------------------------------------------------------------


def prose_lines(text: str, keep_code_spans: bool = False) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` outside fenced code blocks, with inline code spans removed unless kept."""
    lines = text.split("\n")
    fenced = {i for start, end in sync_docs.fenced_ranges(lines) for i in range(start, end + 1)}
    for index, line in enumerate(lines):
        if index not in fenced:
            yield index + 1, line if keep_code_spans else re.sub(r"(`+)(?:(?!\1).)+\1", "", line)


def code_blocks(text: str, language: str | None = None) -> Iterator[tuple[int, str, str]]:
    """``(line number, language, content)`` of every fenced code block (of ``language``)."""
    lines = text.split("\n")
    for start, end in sync_docs.fenced_ranges(lines):
        opened = sync_docs.FENCE.match(lines[start])
        block_language = opened.group(2).strip().split(" ")[0] if opened else ""
        if language is None or block_language == language:
            yield start + 1, block_language, "\n".join(lines[start + 1 : end])


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: links become their text, punctuation goes, spaces become -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a page defines: heading slugs (with GitHub's -1, -2 for repeats) and <a id>."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, target)`` of every link and image in a page's prose."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (INLINE_LINK, REFERENCE_LINK, HTML_LINK):
            for target in pattern.findall(line):
                yield number, target


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if not target or SCHEME.match(target):
            continue  # external links are not fetched (no network in tests)
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{_rel(path)}:{number}: {target}"
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{where} points outside the repository")
        elif not resolved.exists():
            problems.append(f"{where} points at a file that does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading with the anchor #{anchor} in {_rel(resolved)}")
    return problems


# --------------------------------------------------------------------------------------------------
# The repository's docs
# --------------------------------------------------------------------------------------------------


def test_there_are_docs_to_check() -> None:
    names = {_rel(path) for path in MARKDOWN}
    assert {"README.md", "docs/index.md", "docs/connection.md", "docs/troubleshooting.md"} <= names


@pytest.mark.parametrize("page", MARKDOWN, ids=_rel)
def test_links_and_images_resolve(page: Path) -> None:
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_index() -> None:
    index = DOCS / "index.md"
    linked = {(index.parent / target.partition("#")[0]).resolve() for _, target in links(index)}
    orphans = [
        _rel(page) for page in MARKDOWN if page.parent != ROOT and page != index and page not in linked
    ]
    assert orphans == [], "add these pages to the contents of docs/index.md"


def test_generated_blocks_are_fresh() -> None:
    """Example DAG code and error messages in the docs match their sources (fix: scripts/sync_docs.py)."""
    assert sync_docs.stale_blocks(MARKDOWN, ROOT) == []


@pytest.mark.parametrize("page", MARKDOWN, ids=_rel)
def test_python_blocks_parse_and_import_what_exists(page: Path) -> None:
    problems = []
    for number, _, code in code_blocks(page.read_text(encoding="utf-8"), "python"):
        where = f"{_rel(page)}:{number}"
        try:
            tree = ast.parse(code)
        except SyntaxError as error:
            problems.append(f"{where}: {error.msg} (line {error.lineno} of the block)")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "airflow_provider_activecampaign"
            ):
                module = importlib.import_module(node.module or "")
                missing = [alias.name for alias in node.names if not hasattr(module, alias.name)]
                if missing:
                    problems.append(f"{where}: {node.module} has no {', '.join(missing)}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("airflow_provider_activecampaign"):
                        importlib.import_module(alias.name)
    assert problems == []


def _connection_examples() -> list[tuple[str, str, str]]:
    found = []
    for page in MARKDOWN:
        for number, _, code in code_blocks(page.read_text(encoding="utf-8")):
            for conn_id, value in CONN_EXAMPLE.findall(code):
                found.append((f"{_rel(page)}:{number}:{conn_id.lower()}", conn_id.lower(), value))
    return found


CONNECTION_EXAMPLES = _connection_examples()


def test_the_connection_docs_show_both_forms() -> None:
    values = [value for where, _, value in CONNECTION_EXAMPLES if where.startswith("docs/connection.md")]
    assert any(value.startswith("{") for value in values), "a JSON example"
    assert any(value.startswith("activecampaign://") for value in values), "a URI example"


@pytest.mark.parametrize(
    ("conn_id", "value"), [e[1:] for e in CONNECTION_EXAMPLES], ids=[e[0] for e in CONNECTION_EXAMPLES]
)
def test_connection_examples_are_accepted_by_the_hook(conn_id: str, value: str) -> None:
    from airflow.sdk.definitions.connection import Connection

    from airflow_provider_activecampaign.hooks.transport import TransportSettings

    conn = (
        Connection.from_json(value, conn_id=conn_id)
        if value.startswith("{")
        else Connection.from_uri(value, conn_id=conn_id)
    )
    assert conn.conn_type == "activecampaign"
    settings = TransportSettings.from_connection_fields(
        host=conn.host, port=conn.port, password=conn.password, extra=conn.extra_dejson
    )
    assert settings.base_url.startswith(("https://", "http://127.0.0.1", "http://localhost"))


def provider_names() -> set[str]:
    """Every ``ActiveCampaign…`` name defined or imported at the top of a provider module."""
    import pkgutil

    import airflow_provider_activecampaign as package

    names: set[str] = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        module = importlib.import_module(info.name)
        names.update(name for name in vars(module) if name.startswith("ActiveCampaign"))
    return names


def test_provider_names_in_the_docs_exist() -> None:
    """A class renamed or removed in the code cannot live on in the docs."""
    known = provider_names()
    problems = []
    for page in MARKDOWN:
        for number, line in prose_lines(page.read_text(encoding="utf-8"), keep_code_spans=True):
            for span in re.findall(r"`([^`]+)`", line):
                for name in re.findall(r"\bActiveCampaign[A-Z]\w*", span):
                    if name not in known:
                        problems.append(f"{_rel(page)}:{number}: {name}")
    assert problems == []


# --------------------------------------------------------------------------------------------------
# scripts/sync_docs.py itself, on a scratch repository
# --------------------------------------------------------------------------------------------------

EXAMPLE_DAG = '''"""An example."""
from airflow.sdk import dag

# [START hook_call]
    hook = ActiveCampaignHook()
    hook.get("users/me")
# [END hook_call]
'''


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "dags_examples").mkdir()
    (tmp_path / "dags_examples" / "example.py").write_text(EXAMPLE_DAG, encoding="utf-8")
    (tmp_path / "docs").mkdir()
    return tmp_path


def _doc(root: Path, text: str) -> Path:
    path = root / "docs" / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_sync_fills_an_empty_include_with_the_whole_file(scratch: Path) -> None:
    page = _doc(scratch, "Intro\n\n<!-- include: dags_examples/example.py -->\n\nAfter\n")
    assert sync_docs.stale_blocks([page], scratch) == [
        f"{page}:3: no code block after the include marker for dags_examples/example.py"
    ]
    assert sync_docs.sync([page], scratch) == [page]
    text = page.read_text(encoding="utf-8")
    assert text == (
        "Intro\n\n<!-- include: dags_examples/example.py -->\n```python\n"
        + EXAMPLE_DAG.rstrip("\n")
        + "\n```\n\nAfter\n"
    )
    assert sync_docs.stale_blocks([page], scratch) == []


def test_a_section_is_the_dedented_lines_between_its_markers(scratch: Path) -> None:
    page = _doc(scratch, "<!-- include: dags_examples/example.py#hook_call -->\n```python\nold\n```\n")
    assert sync_docs.stale_blocks([page], scratch) == [
        f"{page}:1: the include block for dags_examples/example.py#hook_call is stale"
    ]
    sync_docs.sync([page], scratch)
    assert page.read_text(encoding="utf-8") == (
        "<!-- include: dags_examples/example.py#hook_call -->\n```python\n"
        'hook = ActiveCampaignHook()\nhook.get("users/me")\n```\n'
    )


def test_an_edited_source_makes_its_block_stale(scratch: Path) -> None:
    page = _doc(scratch, "<!-- include: dags_examples/example.py#hook_call -->\n")
    sync_docs.sync([page], scratch)
    assert sync_docs.stale_blocks([page], scratch) == []
    source = scratch / "dags_examples" / "example.py"
    source.write_text(source.read_text().replace("users/me", "contacts"), encoding="utf-8")
    assert len(sync_docs.stale_blocks([page], scratch)) == 1


def test_a_marker_inside_a_code_block_is_an_example_not_a_marker(scratch: Path) -> None:
    text = "````markdown\n<!-- include: dags_examples/missing.py -->\n```python\n```\n````\n"
    page = _doc(scratch, text)
    assert sync_docs.find_blocks(page) == []
    assert sync_docs.sync([page], scratch) == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("dags_examples/missing.py", "does not exist"),
        ("dags_examples/example.py#nope", "exactly one '# [START nope]'"),
        ("../outside.py", "outside the repository"),
    ],
)
def test_a_marker_that_cannot_be_expanded_is_an_error(scratch: Path, target: str, message: str) -> None:
    (scratch.parent / "outside.py").write_text("x = 1\n", encoding="utf-8")
    page = _doc(scratch, f"<!-- include: {target} -->\n")
    with pytest.raises(sync_docs.DocsError, match=re.escape(message)):
        sync_docs.stale_blocks([page], scratch)


def test_an_unknown_error_example_is_an_error(scratch: Path) -> None:
    page = _doc(scratch, "<!-- error-example: no-such-scenario -->\n")
    with pytest.raises(sync_docs.DocsError, match="unknown error-example"):
        sync_docs.stale_blocks([page], scratch)


def test_a_block_containing_backticks_gets_a_longer_fence() -> None:
    assert sync_docs.render_fence('x = """```"""', "python") == ["````python", 'x = """```"""', "````"]


def test_link_checker_finds_broken_links_and_anchors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other page\n\n## Set-up & use\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#set-up--use) [ok](#local) ![img](missing.png) [bad](other.md#nope)\n"
        "[ext](https://example.com/x) `[code](missing.md)`\n\n## Local\n\n```\n[fenced](missing.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "page.md:1: missing.png points at a file that does not exist",
        "page.md:1: other.md#nope: no heading with the anchor #nope in other.md",
    ]


# --------------------------------------------------------------------------------------------------
# One source of truth: the connection form (get_provider_info) and the code
# --------------------------------------------------------------------------------------------------


def _form_fields() -> dict[str, dict[str, object]]:
    from airflow_provider_activecampaign.get_provider_info import get_provider_info

    [conn_type] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "activecampaign"
    ]
    return dict(conn_type["conn-fields"])


def test_every_form_extra_is_in_the_connection_docs_and_getting_started() -> None:
    """The extras table and the getting-started list name exactly the form's fields, with its labels."""
    fields = _form_fields()
    assert len(fields) >= 9
    connection = (DOCS / "connection.md").read_text(encoding="utf-8")
    table = connection[connection.index("<!-- generated: connection-extras -->") :]
    table = table[: table.index("<!-- end: connection-extras -->")]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.MULTILINE)
    assert [name for name, _ in rows] == list(fields)
    assert {name: label.strip() for name, label in rows} == {n: f["label"] for n, f in fields.items()}
    started = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- \*\*([^*]+)\*\* \(`(\w+)`\)$", started, re.MULTILINE)
    assert [(name, label) for label, name in listed] == [(n, f["label"]) for n, f in fields.items()]


def test_the_forms_limits_are_the_ones_the_hook_enforces() -> None:
    """A minimum or maximum in the form's schema is exactly where the hook starts refusing a value."""
    from dataclasses import fields as dataclass_fields

    from airflow_provider_activecampaign.exceptions import ActiveCampaignConfigError
    from airflow_provider_activecampaign.hooks.transport import TransportSettings

    known = {f.name for f in dataclass_fields(TransportSettings)}
    checked = []
    for name, spec in _form_fields().items():
        schema = spec.get("schema", {})
        assert isinstance(schema, dict)
        if name not in known or not {"minimum", "maximum"} & set(schema):
            continue

        def settings(value: float, name: str = name) -> TransportSettings:
            return TransportSettings.from_connection_fields(
                host="https://youraccount.api-us1.com",
                port=None,
                password="key",
                extra={name: value},
                defaults={},
            )

        if "minimum" in schema:
            low = float(schema["minimum"])
            assert getattr(settings(low), name) == low, name
            with pytest.raises(ActiveCampaignConfigError, match=name):
                settings(low - max(low / 2, 0.001) if low > 0 else -1)
        if "maximum" in schema:
            high = float(schema["maximum"])
            if name == "max_retries":
                assert settings(high).max_retries == high
            else:
                with pytest.raises(ActiveCampaignConfigError, match=name):
                    settings(high * 2)
        checked.append(name)
    assert {"timeout", "requests_per_second", "imports_per_minute", "budget_share"} <= set(checked)


#: Statements the docs once made that the code contradicts (issue 16); the truth is on the right.
CONTRADICTIONS = {
    "shared by every task in the worker process": "one limiter per account, shared by every host process",
    "This process's share": "the account's budget; the limiter is shared by every process on the host",
    "Settings → Account": "the API user's time zone is under Settings → My Settings",
    "daily, with catchup": "the examples do not catch up (catchup=False)",
}


def test_the_docs_and_the_form_say_one_thing() -> None:
    sources = [*MARKDOWN, ROOT / "airflow_provider_activecampaign" / "get_provider_info.py"]
    sources += sorted((ROOT / "airflow_provider_activecampaign" / "campaigns").glob("*.py"))
    sources += sorted((ROOT / "airflow_provider_activecampaign" / "operators").glob("*.py"))
    sources += sorted((ROOT / "dags_examples").glob("*.py"))
    problems = [
        f"{_rel(path)}: {wrong!r} (truth: {truth})"
        for path in sources
        for wrong, truth in CONTRADICTIONS.items()
        if wrong in path.read_text(encoding="utf-8")
    ]
    assert problems == []


def test_a_generated_region_is_refreshed_from_its_generator(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sync_docs.REGION_GENERATORS, "demo", lambda: "| a |\n|---|\n| 1 |")
    page = _doc(scratch, "Intro\n<!-- generated: demo -->\nold\n<!-- end: demo -->\nAfter\n")
    assert sync_docs.stale_blocks([page], scratch) == [f"{page}:2: the generated demo is stale"]
    assert sync_docs.sync([page], scratch) == [page]
    assert page.read_text(encoding="utf-8") == (
        "Intro\n<!-- generated: demo -->\n\n| a |\n|---|\n| 1 |\n\n<!-- end: demo -->\nAfter\n"
    )
    assert sync_docs.stale_blocks([page], scratch) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- generated: nope -->\n<!-- end: nope -->\n", "unknown generated region 'nope'"),
        ("<!-- generated: connection-extras -->\nno end\n", "no '<!-- end: connection-extras -->'"),
    ],
)
def test_a_region_that_cannot_be_generated_is_an_error(scratch: Path, text: str, message: str) -> None:
    page = _doc(scratch, text)
    with pytest.raises(sync_docs.DocsError, match=re.escape(message)):
        sync_docs.stale_blocks([page], scratch)


def test_wheel_names_in_the_install_steps_are_this_version() -> None:
    """The README's and getting-started's "install from a built wheel" name the wheel the build makes."""
    from airflow_provider_activecampaign import __version__

    names = {
        name
        for page in (ROOT / "README.md", DOCS / "getting-started.md")
        for name in re.findall(
            r"airflow_provider_activecampaign-([0-9][^-]*)-py3-none-any\.whl", page.read_text()
        )
    }
    assert names == {__version__}, f"install steps name {sorted(names)}, the package is {__version__}"
    assert f"## {__version__}" in (DOCS / "changelog.md").read_text()


#: What a Source cell of docs/emulator.md's behaviour tables must name: the reference (SPEC, DOC:x,
#: V1:x, a section of the reference notes), a public report, or that it is assumed or no API
#: behaviour at all (an emulator control or internal).
_SOURCE = re.compile(
    r"SPEC|DOC:|V1:|§\d|[Rr]eported|[Aa]ssumed|tap-activecampaign|[Hh]elp centre|nodejs#|"
    r"Emulator (control|internals)"
)


def test_every_emulator_behaviour_names_its_source() -> None:
    """Every row of a behaviour table with a Source column says where the behaviour comes from."""
    unsourced: list[str] = []
    header: list[str] | None = None
    for number, line in enumerate((DOCS / "emulator.md").read_text("utf-8").splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        if header is None:
            header = cells
        elif "Source" in header and len(cells) == len(header):
            source = cells[header.index("Source")]
            if not _SOURCE.search(source):
                unsourced.append(f"line {number}: {cells[0]!r}: {source!r}")
    assert unsourced == [], "emulator behaviours without a source, 'reported' or 'assumed':\n" + "\n".join(
        unsourced
    )


def _emulator_rows() -> Iterator[tuple[int, list[str], list[str], str]]:
    """``(line, header, cells, section)`` of every table row in docs/emulator.md."""
    header: list[str] | None = None
    section = ""
    for number, line in enumerate((DOCS / "emulator.md").read_text("utf-8").splitlines(), 1):
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        if header is None:
            header = cells
        elif len(cells) == len(header):
            yield number, header, cells, section


def test_every_assumed_behaviour_is_switchable_or_says_why_not() -> None:
    """Issue 22: each switch is listed; each row with an assumed point or a choice names a switch or a reason.

    A reason is "affects no operator: <why>" (true only if no operator's outcome can depend on it).
    """
    from activecampaign_emulator.assumed import ASSUMED_BEHAVIOURS

    switches = {
        cells[0].strip("`")
        for _, header, cells, section in _emulator_rows()
        if section == "Assumed behaviours (switchable)" and header[0] == "Name"
    }
    assert switches == set(ASSUMED_BEHAVIOURS), (
        "docs/emulator.md's switch table and ASSUMED_BEHAVIOURS differ"
    )
    unexplained: list[str] = []
    for number, header, cells, _ in _emulator_rows():
        row = " | ".join(cells)
        if "Source" not in header or not re.search(r"\b(assumed|choice)\b", row, re.IGNORECASE):
            continue  # any assumed point, and every "Choice" (an assumed reading, by the page's rule)
        named = [name for name in ASSUMED_BEHAVIOURS if f"`{name}`" in row]
        if not named and not re.search(r"affects no operator: \S", row, re.IGNORECASE):
            unexplained.append(f"line {number}: {cells[0]!r}")
    assert unexplained == [], (
        "rows with an assumed point but neither a switch nor 'affects no operator: <why>':\n"
        + "\n".join(unexplained)
    )


def test_a_switch_that_affects_no_operator_is_held_to_it_over_the_whole_suite() -> None:
    """ "Affects no operator" in the switch table is a checked claim, not an argument.

    Such a switch is in ``activecampaign_assumed_unrelied`` (pyproject.toml), so any test in which a
    provider request's answer depends on it fails; every other switch names the integration test
    that runs the provider's code with it both ways.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    unrelied = set(config["tool"]["pytest"]["ini_options"]["activecampaign_assumed_unrelied"])
    claimed: set[str] = set()
    untested: list[str] = []
    for _, header, cells, section in _emulator_rows():
        if section != "Assumed behaviours (switchable)" or header[0] != "Name":
            continue
        name, tested = cells[0].strip("`"), cells[header.index("Tested in both modes")]
        if re.search(r"tests/integration/test_\w+\.py", tested):
            continue  # the provider's code runs with it both ways
        if "affects no operator" in tested.lower():
            claimed.add(name)
        else:
            untested.append(name)
    assert claimed == unrelied, "switch rows saying 'affects no operator' and the ini list differ"
    assert untested == [], f"switches with neither an integration test both ways nor a claim: {untested}"


def test_a_call_the_provider_never_makes_is_not_in_its_operations() -> None:
    """Rows that say "the provider never calls `METHOD /path`" are held to the operations list."""
    listed = json.loads((ROOT / "tests" / "fixtures" / "reference" / "provider_operations.json").read_text())
    operations = {(item["method"], item["path"].rstrip("/")) for item in listed["operations"]}
    text = (DOCS / "emulator.md").read_text("utf-8")
    claims = re.findall(r"never calls `(GET|POST|PUT|DELETE) (/[^`]*)`", text)
    assert claims, "expected at least the API root's claim"
    made = [f"{method} {path}" for method, path in claims if (method, path.rstrip("/")) in operations]
    assert made == [], f"docs/emulator.md says the provider never calls these, but it does: {made}"
