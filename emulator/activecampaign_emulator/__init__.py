"""A local ActiveCampaign v3 emulator ("moto for ActiveCampaign").

A real HTTP server (Starlette on uvicorn) that behaves like the documented ActiveCampaign API:
auth, the 5 requests/second account limit, string ids and envelopes, the documented error
bodies, the asynchronous bulk importer and automations that progress in (emulated) time,
plus a control API (``/_emulator/``) for resets, inspection, fault injection and time travel.

Entry points:

* CLI: ``python -m activecampaign_emulator --port 8765``
* Python: :func:`.testing.running_emulator` (in-process server) and
  :func:`.testing.start_emulator_process` (subprocess)
* pytest: installing the distribution registers its fixtures (a ``pytest11`` entry point), so
  the ``emulator`` fixture is there in every test session.

See ``docs/emulator.md`` for the emulated behaviours and the documentation each follows.
It is its own distribution (``activecampaign-emulator``): the provider's wheel holds none of it
and nothing in the provider imports it.
"""

from __future__ import annotations

__version__ = "0.4.0"

from activecampaign_emulator.app import EmulatorApp, create_app
from activecampaign_emulator.core import (
    ApiRequest,
    BaseExtension,
    Emulator,
    EmulatorConfig,
    EmulatorExtension,
)
from activecampaign_emulator.seed import default_seed, load_seed_file

__all__ = [
    "ApiRequest",
    "BaseExtension",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorExtension",
    "__version__",
    "create_app",
    "default_seed",
    "load_seed_file",
]
