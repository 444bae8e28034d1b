"""The emulator's modules import one another without a circle (issue 22: crm <-> crm_seed <-> ecommerce).

Read from the source (every ``import``, including those inside functions, which is how the old
circle was hidden): the graph of ``activecampaign_emulator`` modules must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import activecampaign_emulator

PACKAGE = Path(activecampaign_emulator.__file__).parent


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "activecampaign_emulator":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("activecampaign_emulator."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[1] for a in node.names if a.name.startswith("activecampaign_emulator.")
            }
    return found - {path.stem}


def test_no_module_imports_itself_through_others() -> None:
    graph = {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}
    assert {"crm", "crm_seed", "ecommerce"} <= set(graph)

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for dep in graph.get(stack.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    circles = sorted(module for module in graph if module in reachable(module))
    assert circles == [], f"import circles through: {circles}"
    assert "crm_seed" not in reachable("crm")
    assert "ecommerce" not in reachable("crm")
