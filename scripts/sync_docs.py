#!/usr/bin/env python
"""Refresh the generated code blocks of the Markdown docs; with ``--check``, only list stale ones.

A generated block is a fenced code block that comes right after an HTML comment marker (the
marker is invisible on GitHub). Two markers exist:

``<!-- include: dags_examples/example.py -->``
    The whole file, verbatim.
``<!-- include: dags_examples/example.py#name -->``
    The lines between ``# [START name]`` and ``# [END name]`` in that file (markers excluded,
    common indentation removed): Airflow's own convention for quoting example DAGs.
``<!-- error-example: wrong-key -->``
    The message of the error the provider raises in that scenario (see ``ERROR_SCENARIOS``),
    produced against the emulator, with its URL shown as ``http://127.0.0.1:8765``.

A generated *region* is Markdown (a table, a list) between two markers, for facts whose one source
of truth is the code:

``<!-- generated: connection-extras -->`` ... ``<!-- end: connection-extras -->``
    The connection form's extra fields, from ``get_provider_info()["connection-types"]`` (see
    ``REGION_GENERATORS``): the same labels, help texts, defaults and limits the UI shows.

Paths are relative to the repository root. ``tests/test_docs.py`` fails when a block is stale;
run ``python scripts/sync_docs.py`` to refresh every block (or only those in the FILEs given).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!--\s*(include|error-example):\s*(\S+)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
LANGUAGES = {
    ".py": "python",
    ".json": "json",
    ".sql": "sql",
    ".sh": "bash",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".md": "markdown",
}
#: How error examples show the emulator and the redirecting server, whatever ports they got.
EXAMPLE_URL = "http://127.0.0.1:8765"
EXAMPLE_REDIRECT_URL = "http://127.0.0.1:8766"


class DocsError(Exception):
    """A marker that cannot be expanded (missing file or section, unknown scenario)."""


# --------------------------------------------------------------------------------------------------
# Finding blocks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One generated block of a Markdown file.

    ``start``/``end`` delimit the fenced block's lines (``end`` exclusive); both are the line
    after the marker when no fence follows it yet.
    """

    doc: Path
    line: int
    kind: str
    target: str
    language: str | None
    current: str | None
    start: int
    end: int

    @property
    def where(self) -> str:
        try:
            name = self.doc.relative_to(ROOT)
        except ValueError:
            name = self.doc
        return f"{name}:{self.line}"


def fenced_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """``(open, close)`` line indexes of every fenced code block (an unclosed one runs to the end)."""
    ranges: list[tuple[int, int]] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        fence = opened.group(1)
        close = index + 1
        while close < len(lines):
            closing = FENCE.match(lines[close])
            same_fence = closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence)
            if same_fence and closing and not closing.group(2).strip():
                break
            close += 1
        ranges.append((index, min(close, len(lines) - 1)))
        index = close + 1
    return ranges


def find_blocks(doc: Path, text: str | None = None) -> list[Block]:
    """The generated blocks of ``doc``; markers inside code blocks (examples of markers) don't count."""
    lines = (doc.read_text(encoding="utf-8") if text is None else text).split("\n")
    fences = fenced_ranges(lines)
    inside = {i for start, end in fences for i in range(start, end + 1)}
    fence_at = {start: end for start, end in fences}
    blocks: list[Block] = []
    for index, line in enumerate(lines):
        marker = MARKER.match(line)
        if marker is None or index in inside:
            continue
        after = index + 1
        if after in fence_at:
            opened = FENCE.match(lines[after])
            language = opened.group(2).strip() if opened else None
            close = fence_at[after]
            current = "\n".join(lines[after + 1 : close])
            blocks.append(
                Block(
                    doc,
                    index + 1,
                    marker.group(1),
                    marker.group(2),
                    language or None,
                    current,
                    after,
                    close + 1,
                )
            )
        else:
            blocks.append(Block(doc, index + 1, marker.group(1), marker.group(2), None, None, after, after))
    return blocks


# --------------------------------------------------------------------------------------------------
# What a block should contain
# --------------------------------------------------------------------------------------------------


def read_include(target: str, root: Path = ROOT) -> str:
    """The text an ``include`` marker stands for (no trailing newline)."""
    path_part, _, section = target.partition("#")
    path = (root / path_part).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DocsError(f"{path_part} is outside the repository")
    if not path.is_file():
        raise DocsError(f"{path_part} does not exist")
    text = path.read_text(encoding="utf-8")
    if not section:
        return text.rstrip("\n")
    start = re.compile(rf"^\s*#\s*\[START {re.escape(section)}\]\s*$")
    end = re.compile(rf"^\s*#\s*\[END {re.escape(section)}\]\s*$")
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if start.match(line)]
    ends = [i for i, line in enumerate(lines) if end.match(line)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise DocsError(
            f"{path_part} needs exactly one '# [START {section}]' line "
            f"followed by one '# [END {section}]' line"
        )
    return textwrap.dedent("\n".join(lines[starts[0] + 1 : ends[0]])).strip("\n")


def language_for(block: Block) -> str:
    if block.language:
        return block.language
    if block.kind == "error-example":
        return "text"
    suffix = Path(block.target.partition("#")[0]).suffix.lower()
    return LANGUAGES.get(suffix, "text")


def render_fence(content: str, language: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *content.split("\n"), fence]


def expected_contents(blocks: Iterable[Block], root: Path = ROOT) -> dict[Block, str]:
    """What every block should contain; error examples are produced once, against one emulator."""
    blocks = list(blocks)
    scenarios = {b.target for b in blocks if b.kind == "error-example"}
    unknown = scenarios - set(ERROR_SCENARIOS)
    if unknown:
        raise DocsError(
            f"unknown error-example scenario(s) {sorted(unknown)}; known: {sorted(ERROR_SCENARIOS)}"
        )
    examples = error_examples(scenarios) if scenarios else {}
    expected: dict[Block, str] = {}
    for block in blocks:
        try:
            expected[block] = (
                examples[block.target] if block.kind == "error-example" else read_include(block.target, root)
            )
        except DocsError as error:
            raise DocsError(f"{block.where}: {error}") from None
    return expected


def stale_blocks(docs: Iterable[Path], root: Path = ROOT) -> list[str]:
    """A line per block whose content differs from its source (empty when everything is fresh)."""
    docs = list(docs)
    blocks = [block for doc in docs for block in find_blocks(doc)]
    expected = expected_contents(blocks, root)
    problems = stale_regions(docs)
    for block in blocks:
        if block.current is None:
            problems.append(f"{block.where}: no code block after the {block.kind} marker for {block.target}")
        elif block.current != expected[block]:
            problems.append(f"{block.where}: the {block.kind} block for {block.target} is stale")
    return problems


def sync(docs: Iterable[Path], root: Path = ROOT) -> list[Path]:
    """Rewrite every stale block; return the files that changed."""
    docs = list(docs)
    changed_regions = sync_regions(docs)
    blocks = {doc: find_blocks(doc) for doc in docs}
    expected = expected_contents([b for bs in blocks.values() for b in bs], root)
    changed = []
    for doc, doc_blocks in blocks.items():
        lines = doc.read_text(encoding="utf-8").split("\n")
        for block in sorted(doc_blocks, key=lambda b: b.start, reverse=True):
            if block.current == expected[block]:
                continue
            lines[block.start : block.end] = render_fence(expected[block], language_for(block))
        text = "\n".join(lines)
        if text != doc.read_text(encoding="utf-8"):
            doc.write_text(text, encoding="utf-8")
            changed.append(doc)
    return sorted(set(changed) | set(changed_regions))


def markdown_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    files = [root / "README.md"] if (root / "README.md").exists() else []
    return files + sorted((root / "docs").rglob("*.md"))


# --------------------------------------------------------------------------------------------------
# Generated regions: Markdown whose one source of truth is the code
# --------------------------------------------------------------------------------------------------

REGION_START = re.compile(r"^<!--\s*generated:\s*(\S+)\s*-->\s*$")
REGION_END = re.compile(r"^<!--\s*end:\s*(\S+)\s*-->\s*$")


def _conn_fields() -> dict[str, dict[str, Any]]:
    from airflow_provider_activecampaign.get_provider_info import get_provider_info

    [conn_type] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "activecampaign"
    ]
    return dict(conn_type["conn-fields"])


def _allowed(schema: Mapping[str, Any]) -> str:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else [kind for kind in types if kind != "null"]
    low, high = schema.get("minimum"), schema.get("maximum")
    kind = "whole number" if "integer" in types else "number" if "number" in types else "text"
    if "enum" in schema:
        return ", ".join(f"`{value}`" for value in schema["enum"] if value is not None)
    if low is not None and high is not None:
        return f"{kind}, {low:g} to {high:g}"
    if low is not None:
        return f"{kind}, at least {low:g}"
    return kind


def connection_extras_table() -> str:
    """Every extra field of the connection form: label, default, limits and help text."""
    lines = [
        "| Extra | In the form | Default | Allowed | What it does (the form's help text) |",
        "|---|---|---|---|---|",
    ]
    for name, spec in _conn_fields().items():
        schema = spec.get("schema", {})
        default = schema.get("default")
        shown = "—" if default is None else f"`{default}`"
        help_text = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {spec.get('label', name)} | {shown} | {_allowed(schema)} | {help_text} |")
    return "\n".join(lines)


def connection_extras_list() -> str:
    """The form's extra fields as a short list (label and extra name)."""
    return "\n".join(f"- **{spec.get('label', name)}** (`{name}`)" for name, spec in _conn_fields().items())


REGION_GENERATORS: dict[str, Callable[[], str]] = {
    "connection-extras": connection_extras_table,
    "connection-extras-list": connection_extras_list,
}


@dataclass(frozen=True)
class Region:
    """Lines ``start`` (the line after the opening marker) to ``end`` (the closing marker's line)."""

    doc: Path
    line: int
    name: str
    start: int
    end: int
    current: str


def find_regions(doc: Path, text: str | None = None) -> list[Region]:
    lines = (doc.read_text(encoding="utf-8") if text is None else text).split("\n")
    inside = {i for start, end in fenced_ranges(lines) for i in range(start, end + 1)}
    regions = []
    for index, line in enumerate(lines):
        opened = REGION_START.match(line)
        if opened is None or index in inside:
            continue
        name = opened.group(1)
        close = next(
            (
                i
                for i in range(index + 1, len(lines))
                if (m := REGION_END.match(lines[i])) and m.group(1) == name
            ),
            None,
        )
        if close is None:
            raise DocsError(f"{doc}:{index + 1}: no '<!-- end: {name} -->' after the generated region")
        if name not in REGION_GENERATORS:
            raise DocsError(
                f"{doc}:{index + 1}: unknown generated region {name!r}; known: {sorted(REGION_GENERATORS)}"
            )
        current = "\n".join(lines[index + 1 : close]).strip("\n")
        regions.append(Region(doc, index + 1, name, index + 1, close, current))
    return regions


def stale_regions(docs: Iterable[Path]) -> list[str]:
    problems = []
    for doc in docs:
        for region in find_regions(doc):
            if region.current != REGION_GENERATORS[region.name]():
                problems.append(f"{_where(region.doc)}:{region.line}: the generated {region.name} is stale")
    return problems


def sync_regions(docs: Iterable[Path]) -> list[Path]:
    changed = []
    for doc in docs:
        regions = find_regions(doc)
        if not regions:
            continue
        text = doc.read_text(encoding="utf-8")
        lines = text.split("\n")
        for region in sorted(regions, key=lambda r: r.start, reverse=True):
            lines[region.start : region.end] = ["", *REGION_GENERATORS[region.name]().split("\n"), ""]
        new = "\n".join(lines)
        if new != text:
            doc.write_text(new, encoding="utf-8")
            changed.append(doc)
    return changed


def _where(doc: Path) -> str:
    try:
        return str(doc.relative_to(ROOT))
    except ValueError:
        return str(doc)


# --------------------------------------------------------------------------------------------------
# Error examples: real errors, raised against the emulator
# --------------------------------------------------------------------------------------------------


@dataclass
class ScenarioContext:
    url: str
    api_key: str
    client: Any  # EmulatorClient
    redirect_url: str

    def hook(self, name: str, host: str | None = None, key: str | None = None, **extra: Any) -> Any:
        """A hook on a fresh connection ``docs_<name>`` (``max_retries`` 0 unless given)."""
        from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

        conn_id = f"docs_{name.replace('-', '_')}"
        extra.setdefault("max_retries", 0)
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {
                "conn_type": "activecampaign",
                "host": self.url if host is None else host,
                "password": self.api_key if key is None else key,
                "extra": extra,
            }
        )
        return ActiveCampaignHook(conn_id)


def _wrong_key(ctx: ScenarioContext) -> None:
    ctx.hook("wrong-key", key="0123456789abcdef-not-the-key").get("users/me")


def _plain_http(ctx: ScenarioContext) -> None:
    ctx.hook("plain-http", host="http://youraccount.api-us1.com").get("users/me")


def _web_app_url(ctx: ScenarioContext) -> None:
    ctx.hook("web-app-url", host="https://youraccount.activehosted.com").get("users/me")


def _redirect(ctx: ScenarioContext) -> None:
    ctx.hook("redirect", host=ctx.redirect_url).get("users/me")


def _not_found(ctx: ScenarioContext) -> None:
    ctx.hook("not-found").get("contacts/999999")


def _duplicate(ctx: ScenarioContext) -> None:
    hook = ctx.hook("duplicate")
    hook.post("contacts", {"contact": {"email": "ada@example.com", "firstName": "Ada"}})
    hook.post("contacts", {"contact": {"email": "ada@example.com", "firstName": "Ada"}})


def _ambiguous_write(ctx: ScenarioContext) -> None:
    ctx.client.add_fault("POST", "/api/3/contacts", "http_500", when="after", times=1)
    contact = {
        "email": "grace@example.com",
        "firstName": "Grace",
        "fieldValues": [{"field": "1", "value": "Navy"}],
    }
    ctx.hook("ambiguous-write").post("contacts", {"contact": contact})


# The timeouts are a whole second (the answers come three seconds late): a connection to the emulator
# on a busy machine can take longer than a shorter timeout, and the example would show a connect
# timeout instead.
def _read_timeout(ctx: ScenarioContext) -> None:
    ctx.client.add_fault("GET", "/api/3/contacts/{id}", "slow", delay=3, times=1)
    ctx.hook("read-timeout", timeout=1).get("contacts/1")


def _write_timeout(ctx: ScenarioContext) -> None:
    ctx.client.add_fault("POST", "/api/3/contacts", "slow", delay=3, when="after", times=1)
    ctx.hook("write-timeout", timeout=1).post("contacts", {"contact": {"email": "alan@example.com"}})


def _rate_limited(ctx: ScenarioContext) -> None:
    ctx.client.add_fault("GET", "/api/3/contacts", "http_429", times=1, retry_after=30)
    ctx.hook("rate-limited", max_wait=0).get("contacts", params={"email": "ada@example.com"})


def _import_rate_limit(ctx: ScenarioContext) -> None:
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    seed["importer"]["multi_contact_requests_per_minute"] = 1
    ctx.client.reset(seed)
    hook = ctx.hook("import-rate-limit", imports_per_minute=1000, max_wait=0)
    rows = [
        {"email": "ada@example.com", "first_name": "Ada"},
        {"email": "alan@example.com", "first_name": "Alan"},
    ]
    for _ in range(2):
        hook.post("import/bulk_import", {"contacts": rows})


#: name -> what happens. Run in this order (the rate-limit ones last: they make the process wait).
#: Scenarios whose message says how long the call waited.
TIMED_SCENARIOS = frozenset({"read-timeout", "write-timeout"})

ERROR_SCENARIOS: dict[str, Callable[[ScenarioContext], None]] = {
    "wrong-key": _wrong_key,
    "plain-http": _plain_http,
    "web-app-url": _web_app_url,
    "redirect": _redirect,
    "not-found": _not_found,
    "duplicate": _duplicate,
    "ambiguous-write": _ambiguous_write,
    "read-timeout": _read_timeout,
    "write-timeout": _write_timeout,
    "rate-limited": _rate_limited,
    "import-rate-limit": _import_rate_limit,
}


class _RedirectToWebApp(http.server.BaseHTTPRequestHandler):
    """Answers like a proxy that sends API calls to the web app's host."""

    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", f"https://youraccount.activehosted.com{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _redirect_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RedirectToWebApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _normalise(text: str, replacements: Mapping[str, str]) -> str:
    for actual, shown in replacements.items():
        text = text.replace(actual, shown)
    return text


def error_examples(names: Iterable[str]) -> dict[str, str]:
    """``{scenario: str(error)}`` for the named scenarios, each raised against a fresh emulator."""
    from activecampaign_emulator.testing import running_emulator

    from airflow_provider_activecampaign.exceptions import ActiveCampaignError

    wanted = [name for name in ERROR_SCENARIOS if name in set(names)]
    examples: dict[str, str] = {}
    with _restored_environment(), running_emulator() as emulator, _redirect_server() as redirect_url:
        ctx = ScenarioContext(emulator.url, emulator.api_key, emulator.client, redirect_url)
        port = emulator.url.rsplit(":", 1)[1]
        replacements = {
            emulator.url: EXAMPLE_URL,
            redirect_url: EXAMPLE_REDIRECT_URL,
            f"port={port})": f"port={EXAMPLE_URL.rsplit(':', 1)[1]})",
        }
        for name in wanted:
            emulator.client.clear_faults()
            try:
                ERROR_SCENARIOS[name](ctx)
            except ActiveCampaignError as error:
                text = _normalise(f"{type(error).__name__}: {error}", replacements)
                if name in TIMED_SCENARIOS:
                    # How long the call waited depends on the machine (a loaded one adds seconds):
                    # shown as an idle machine prints it.
                    text = re.sub(r"(within 1 s|over \d+ s)\.", "over 1 s.", text)
                examples[name] = text
            else:
                raise DocsError(f"the error-example scenario {name!r} raised no error")
    return examples


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only list stale blocks; exit 1 if any")
    parser.add_argument(
        "files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/**/*.md)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="sync-docs-airflow-home-"))
    docs = [path.resolve() for path in args.files] or markdown_files()
    try:
        if args.check:
            problems = stale_blocks(docs)
            for problem in problems:
                print(problem)
            if problems:
                print("Run: python scripts/sync_docs.py")
            return 1 if problems else 0
        for doc in sync(docs):
            print(f"updated {doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc}")
    except DocsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
