"""Fakes for unit tests of one class: HTTP responses as ``requests`` returns them, connection JSON."""

from __future__ import annotations

import json
from typing import Any

import requests

#: A key shaped like a real one (72 hex characters); long enough for Airflow's masker (>= 5).
API_KEY = "5f0c1e2d3b4a69788796a5b4c3d2e1f0a9b8c7d6e5f40312f1e2d3c4b5a69788796a5b4c3"


def connection_json(host: str, api_key: str = API_KEY, **extra: Any) -> str:
    """What ``AIRFLOW_CONN_<ID>`` holds for an ``activecampaign`` connection."""
    return json.dumps({"conn_type": "activecampaign", "host": host, "password": api_key, "extra": extra})


def response(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """A real :class:`requests.Response` with a JSON (or raw ``text``) body."""
    resp = requests.Response()
    resp.status_code = status
    payload = text if text is not None else ("" if body is None else json.dumps(body))
    resp._content = payload.encode("utf-8")
    resp.encoding = "utf-8"
    resp.headers.update(headers or {})
    return resp
