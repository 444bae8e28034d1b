"""Apache Airflow provider for ActiveCampaign."""

from __future__ import annotations

__version__ = "0.4.0"

__all__ = ["__version__"]
