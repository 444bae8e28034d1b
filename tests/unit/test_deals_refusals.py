"""The deals writer's outcome does not depend on the shape of a refusal (docs/emulator.md, "Deals: write").

SPEC ``POST /deals`` and ``PUT /deals/{id}`` document only ``400 {}`` for errors; the emulator's 422
v3 envelope and codes (``field_missing``, ``related_missing`` ...) are a choice. The writer must not
read them: a refusal fails the record with the answer's text, whatever the body.
"""

from __future__ import annotations

import re
from pathlib import Path

import airflow_provider_activecampaign.deals.sync as deal_sync
import airflow_provider_activecampaign.operators.deals as deal_operator


def test_the_deals_writer_reads_no_error_code() -> None:
    for module in (deal_sync, deal_operator):
        source = Path(str(module.__file__)).read_text("utf-8")
        assert "field_errors" not in source, module.__name__
        assert not re.search(r"""get\(\s*["']code["']\s*\)|\[\s*["']code["']\s*\]""", source), module.__name__
        assert "related_missing" not in source, module.__name__
        assert "field_missing" not in source, module.__name__
