"""A local ActiveCampaign v3 emulator ("moto for ActiveCampaign").

A real HTTP server (Starlette on uvicorn) that behaves like the documented ActiveCampaign API:
auth, the 5 requests/second account limit, string ids and envelopes, the documented error
bodies, the asynchronous bulk importer and automations that progress in (emulated) time,
plus a control API (``/_emulator/``) for resets, inspection, fault injection and time travel.

Entry points:

* CLI: ``python -m airflow_provider_activecampaign.emulator --port 8765``
* Python: :func:`.testing.running_emulator` (in-process server) and
  :func:`.testing.start_emulator_process` (subprocess)
* pytest: ``pytest_plugins = ["airflow_provider_activecampaign.emulator.pytest_plugin"]``
  gives the ``emulator`` fixture.

See ``docs/emulator.md`` for the emulated behaviours and the documentation each follows.
Nothing in the provider's hooks/operators/sensors/triggers imports this package.
"""

from __future__ import annotations

from airflow_provider_activecampaign.emulator.app import EmulatorApp, create_app
from airflow_provider_activecampaign.emulator.core import (
    ApiRequest,
    BaseExtension,
    Emulator,
    EmulatorConfig,
    EmulatorExtension,
)
from airflow_provider_activecampaign.emulator.seed import default_seed, load_seed_file

__all__ = [
    "ApiRequest",
    "BaseExtension",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorExtension",
    "create_app",
    "default_seed",
    "load_seed_file",
]
