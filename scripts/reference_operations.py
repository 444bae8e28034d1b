"""Write tests/fixtures/reference/provider_operations.json from a survey run of the test suite.

    ACTIVECAMPAIGN_REFERENCE_SURVEY=/tmp/survey.jsonl python -m pytest tests/integration
    python scripts/reference_operations.py /tmp/survey.jsonl
    python scripts/reference_operations.py --summary   # which of them the reference has

The survey (the emulator plugin's survey mode) lists each test's deviations from the reference in
the file and the operations used in ``<file>.operations``; this keeps the operations already
listed (with their exemptions) and adds the new ones. Only the ``emulator`` fixture's requests are
surveyed, i.e. the integration tests'. The suite fails any test that uses an operation this file
does not list (ini ``activecampaign_reference_operations``), so a missing one is found without a
survey: add it here or by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "fixtures" / "reference" / "provider_operations.json"
EXEMPT = {
    ("GET", "/admin/api.php"): "v1 API (campaign_list, campaign_report_totals ...): not in the v3 reference; "
    "its answers are checked against the v1 examples by tests/emulator/test_campaigns_emulator.py",
    ("POST", "/admin/api.php"): "v1 API (campaign_create, campaign_send ...): not in the v3 reference",
    ("POST", "/event"): "event tracking (trackcmp.net/event): not in the v3 reference; its answers are "
    "checked by tests/emulator/test_emulator_tracking.py",
    ("GET", "/api/3/contacts/{id}/contactTags"): "not an operation of the reference (only a link in its "
    "contact examples), so it has no example to check against",
    ("GET", "/api/3/contactLists"): (
        "reported (tap-activecampaign 1.3.1), not an operation of the reference (it documents only "
        "POST on this path), so it has no example; tests/emulator/test_emulator_catalog.py checks "
        "each row against the row of SPEC GET /contacts/{id}/contactLists"
    ),
    ("GET", "/api/3/contactTags"): (
        "reported (tap-activecampaign 1.3.1), not an operation of the reference (it documents only "
        "POST on this path), so it has no example; tests/emulator/test_emulator_catalog.py checks "
        "each row against the contactTag of SPEC POST /contactTags"
    ),
}


def main(survey: str) -> None:
    found: set[tuple[str, str]] = set()
    operations = Path(survey + ".operations")
    if operations.exists():
        for line in operations.read_text().splitlines():
            method, path = line.split(maxsplit=1)
            found.add((method, path))
    for line in Path(survey).read_text().splitlines() if Path(survey).exists() else []:
        data = json.loads(line)
        found.add((data["method"], data["template"] or data["path"]))
    found = {(m, re.sub(r"(?<!/api)/\d+(?=/|$)", "/{id}", p)) for m, p in found}
    old = json.loads(TARGET.read_text()) if TARGET.exists() else {"operations": []}
    known = {(e["method"], e["path"]): e for e in old["operations"]}
    for key in found - set(known):
        known[key] = {"method": key[0], "path": key[1], **({"exempt": EXEMPT[key]} if key in EXEMPT else {})}
    result = {
        "_about": "Every (method, path) the provider sent to the emulator in a survey run of the test "
        "suite (scripts/reference_operations.py), with the reference's template. "
        "tests/emulator/test_emulator_answers.py requires a contract test of each one's official "
        "example, unless it is exempt for the reason given.",
        "operations": [known[k] for k in sorted(known)],
    }
    TARGET.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(known)} operations ({len(found)} in this survey) -> {TARGET.relative_to(ROOT)}")


def summary() -> None:
    """How many listed operations the reference has, and which it has not (allowlisted or exempt)."""
    document = json.loads((TARGET.parent / "activecampaign-v3.openapi.json").read_text())
    listed = json.loads(TARGET.read_text())["operations"]
    outside = [
        f"{entry['method']} {entry['path']}"
        for entry in listed
        if entry["method"].lower() not in document["paths"].get(entry["path"].removeprefix("/api/3"), {})
        or not entry["path"].startswith("/api/3/")
    ]
    print(
        f"{len(listed)} operations; {len(listed) - len(outside)} are operations of the reference; "
        f"{len(outside)} are not:"
    )
    print("\n".join(f"  {line}" for line in outside))


if __name__ == "__main__":
    summary() if sys.argv[1:] == ["--summary"] else main(sys.argv[1])
