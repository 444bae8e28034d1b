"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks:``).

**The API reference is generated, never listed by hand.** A reference page holds a marker such as
``<!-- reference: hooks -->``; at build time it becomes one mkdocstrings ``::: module`` block per
module found under ``airflow_provider_activecampaign/hooks/`` (found by walking the files, so a
module added tomorrow is in the next build). ``<!-- reference: * -->`` stands for every module that
no other reference page claims, so a new resource folder (``deals/``, ...) is documented without
any wiring. Modules and names starting with ``_`` and ``__main__`` are private and left out.

**The emulator's modules** (``activecampaign_emulator``, its own distribution in ``emulator/``) are
found the same way, for the ``<!-- reference: activecampaign_emulator -->`` marker.

**Every page is in the navigation.** ``mkdocs.yml`` gives the reading order; a page under docs/ that
it does not list (a page added by a change that did not touch ``mkdocs.yml``) is appended to a
"More" section before "For contributors", so no page is ever unreachable.

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
#: Top-level packages documented: the provider, and the emulator of emulator/ (its own distribution).
PACKAGE_DIRS = {
    PACKAGE: Path(PACKAGE),
    "activecampaign_emulator": Path("emulator", "activecampaign_emulator"),
}
REFERENCE_DIR = ROOT / "docs" / "reference"
MARKER = re.compile(r"^<!--\s*reference:\s*(.+?)\s*-->[ \t]*$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?\s*\)")


def public_modules(root: Path = ROOT) -> list[str]:
    """Every public module of the documented packages (dotted names, sorted), found from their files."""
    modules = []
    for package, relative in PACKAGE_DIRS.items():
        package_dir = root / relative
        for path in sorted(package_dir.rglob("*.py")):
            parts = (package, *path.relative_to(package_dir).with_suffix("").parts)
            if parts[-1] == "__init__":
                continue  # the package's modules carry the code; __init__ files only re-export
            if any(part.startswith("_") for part in parts):
                continue
            modules.append(".".join(parts))
    return sorted(modules)


def module_file(module: str, root: Path = ROOT) -> Path:
    """The source file of a module that :func:`public_modules` found."""
    package, *rest = module.split(".")
    return (root / PACKAGE_DIRS[package]).joinpath(*rest).with_suffix(".py")


def claimed_by(selector: str, module: str) -> bool:
    """Whether ``module`` belongs to the selector of a marker (``hooks``, ``exceptions``, ...).

    A selector is a part of the provider's package, or a whole documented package
    (``activecampaign_emulator``)."""
    name = selector if selector in PACKAGE_DIRS else f"{PACKAGE}.{selector}"
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


MORE = "More"
CONTRIBUTORS = "For contributors"


def _nav_pages(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return {page for value in nav.values() for page in _nav_pages(value)}
    if isinstance(nav, list):
        return {page for item in nav for page in _nav_pages(item)}
    return set()


def nav_with_every_page(nav: list[Any] | None, pages: list[str]) -> list[Any] | None:
    """``nav`` with the pages it does not list appended under "More", before "For contributors"."""
    if nav is None:
        return None  # no nav: MkDocs lists every page itself
    missing = [page for page in sorted(pages) if page not in _nav_pages(nav)]
    if not missing:
        return nav
    position = next(
        (i for i, item in enumerate(nav) if isinstance(item, dict) and CONTRIBUTORS in item), len(nav)
    )
    return [*nav[:position], {MORE: missing}, *nav[position:]]


def on_config(config: Any) -> Any:
    docs_dir = Path(config["docs_dir"]).resolve()
    pages = [p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md")]
    config["nav"] = nav_with_every_page(config.get("nav"), pages)
    return config


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
