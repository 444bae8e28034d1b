"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

**The API reference is generated, never listed by hand.** A reference page holds a marker such as
``<!-- reference: hooks -->``; at build time it becomes one mkdocstrings ``::: module`` block per
module found under ``airflow_provider_activecampaign/hooks/`` (found by walking the files, so a
module added tomorrow is in the next build). ``<!-- reference: * -->`` stands for every module that
no other reference page claims, so a new resource folder (``deals/``, ...) is documented without
any wiring. Modules and names starting with ``_`` and ``__main__`` are private and left out.

**Links to repository files outside docs/** (example DAGs, tests, README.md) work on GitHub but
have no page on the site: they are shown as the file's path instead of a link when the file exists.
A link to a file that does not exist stays a link, so ``mkdocs build --strict`` reports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_activecampaign"
REFERENCE_DIR = ROOT / "docs" / "reference"
MARKER = re.compile(r"^<!--\s*reference:\s*(.+?)\s*-->[ \t]*$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?\s*\)")


def public_modules(root: Path = ROOT) -> list[str]:
    """Every public module of the package (dotted names, sorted), found from its files."""
    package_dir = root / PACKAGE
    modules = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            continue  # the package's modules carry the code; __init__ files only re-export
        if any(part.startswith("_") for part in parts):
            continue
        modules.append(".".join(parts))
    return modules


def claimed_by(selector: str, module: str) -> bool:
    """Whether ``module`` belongs to the selector of a marker (``hooks``, ``exceptions``, ...)."""
    name = f"{PACKAGE}.{selector}"
    return module == name or module.startswith(name + ".")


def reference_markers(reference_dir: Path = REFERENCE_DIR) -> dict[str, list[str]]:
    """``{page file name: [selectors]}`` of every reference page."""
    found: dict[str, list[str]] = {}
    for page in sorted(reference_dir.glob("*.md")):
        for marker in MARKER.finditer(page.read_text(encoding="utf-8")):
            found.setdefault(page.name, []).extend(marker.group(1).split())
    return found


def modules_for(selectors: list[str], all_selectors: list[str], modules: list[str]) -> list[str]:
    """The modules a marker stands for; ``*`` is every module no named selector claims."""
    chosen = []
    named = [s for s in all_selectors if s != "*"]
    for module in modules:
        wanted = any(claimed_by(s, module) for s in selectors if s != "*")
        unclaimed = "*" in selectors and not any(claimed_by(s, module) for s in named)
        if wanted or unclaimed:
            chosen.append(module)
    return chosen


def expand_reference(markdown: str, all_selectors: list[str], modules: list[str]) -> str:
    def block(match: re.Match[str]) -> str:
        selected = modules_for(match.group(1).split(), all_selectors, modules)
        return "\n\n".join(f"::: {module}" for module in selected) or "(No modules.)"

    return MARKER.sub(block, markdown)


def outside_links_as_paths(markdown: str, page_path: Path, docs_dir: Path) -> str:
    """Links to existing repository files outside ``docs_dir`` become their path in code."""

    def replace(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        file_part = target.partition("#")[0]
        resolved = (page_path.parent / file_part).resolve()
        if resolved.is_relative_to(docs_dir) or not resolved.is_relative_to(ROOT) or not resolved.exists():
            return match.group(0)
        shown = resolved.relative_to(ROOT).as_posix() + ("/" if resolved.is_dir() else "")
        return text if shown.strip("/") in text else f"{text} (`{shown}`)"

    lines = markdown.split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced:
            lines[index] = LINK.sub(replace, line)
    return "\n".join(lines)


_BUILD: dict[str, Any] = {}


def on_pre_build(config: Any) -> None:
    """Walk the package once per build, before mkdocstrings loads it, so both see the same files."""
    markers = reference_markers()
    _BUILD["selectors"] = [s for selectors in markers.values() for s in selectors]
    _BUILD["modules"] = public_modules()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    page_path = docs_dir / page.file.src_path
    if page_path.parent == REFERENCE_DIR and MARKER.search(markdown):
        markdown = expand_reference(markdown, _BUILD["selectors"], _BUILD["modules"])
    return outside_links_as_paths(markdown, page_path, docs_dir)
