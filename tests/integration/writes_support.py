"""Shared set-up for the deal, account, event and erasure integration tests."""

from __future__ import annotations

import itertools
from typing import Any

from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.seed import default_seed

_RESETS = itertools.count(1)


def fresh_crm(emulator: EmulatorFixture, **sections: Any) -> dict[str, Any]:
    """Reset to the default account plus ``sections``, with CRM records rebuilt from scratch.

    The generated account count differs per call: the emulator keeps CRM records across a reset to
    the same records lazily, and these tests must not see an earlier test's deal field values.
    """
    seed = default_seed()
    seed["accounts"] = {"generate": 100 + next(_RESETS) % 7}
    seed.update(sections)
    emulator.reset(seed)
    return seed
