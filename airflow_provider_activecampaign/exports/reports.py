"""Campaign analytics as export rows: who opened, clicked, bounced and unsubscribed, per campaign.

ActiveCampaign lists these only in v1 (``/admin/api.php``, V1:campaign_report_bounce_list,
V1:campaign_report_link_list, PHP ``Campaign.class.php``), one campaign per call. The request plan
is the cheapest the public material allows:

* the campaigns come from ``GET /campaigns`` (100 a request), which carries each campaign's report
  counts (SPEC ``GET /campaigns``: ``uniqueopens``, ``uniquelinkclicks``, ``hardbounces`` …): a
  campaign whose counts for the list are 0 costs no request at all, nor does one that started
  sending after the window ends (it cannot hold activity from inside it);
* a list is paged by ``page`` until it holds as many rows as the counts say, ``Failed: Nothing is
  returned`` comes back (v1's empty answer: ``result_code`` 0), or a page repeats the previous one
  (a server that ignores ``page``); the link list documents no ``page`` and is one request.

A v1 page is an object keyed ``"0"``, ``"1"`` … beside ``result_code``/``result_message``; the
link list nests who clicked under each link's ``info``. Every row gets its ``campaignid``, and an
``id`` built from the campaign and the contact (and the link) where the list has none of its own.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.exports.registry import ReportList
from airflow_provider_activecampaign.exports.windows import Window, record_time
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.dates import UnparseableDateError

#: v1's answer when a list is empty (or a page is past its end): ``result_code`` 0, not an error.
NOTHING_RETURNED = re.compile(r"nothing (is )?returned", re.IGNORECASE)
#: Pages read for one campaign before giving up on a list that never ends (a server looping).
MAX_PAGES = 100_000

log = logging.getLogger(__name__)


def report_rows(answer: Any, action: str) -> list[dict[str, Any]]:
    """The rows of one v1 list answer, in their numbered order, without the call's envelope."""
    if not isinstance(answer, Mapping):
        raise ValueError(f"{action} answered {type(answer).__name__}, not a JSON object of numbered rows.")
    numbered = sorted((int(key), row) for key, row in answer.items() if str(key).isdigit())
    return [dict(row) for _, row in numbered if isinstance(row, Mapping)]


def is_nothing_returned(error: ActiveCampaignValidationError) -> bool:
    """Whether a refused v1 call is the empty-list answer (``Failed: Nothing is returned``)."""
    try:
        body = json.loads(error.response_body or "")
    except (TypeError, ValueError):
        return False
    message = body.get("result_message") if isinstance(body, Mapping) else None
    return bool(message and NOTHING_RETURNED.search(str(message)))


def expected_rows(spec: ReportList, campaign: Mapping[str, Any]) -> int | None:
    """How many rows the campaign's own counts promise; ``None`` when a count is missing or unreadable."""
    total = 0
    for name in spec.counts:
        try:
            total += int(campaign[name])
        except (KeyError, TypeError, ValueError):
            return None
    return total


def export_rows(
    spec: ReportList, campaign_id: str, rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The list's rows as export records: ``campaignid`` on each, nested clicks one row each, an ``id``."""
    records: list[dict[str, Any]] = []
    for row in rows:
        if spec.nested is None:
            records.append({**row, "campaignid": campaign_id})
            continue
        link = {k: v for k, v in row.items() if k != spec.nested}
        for entry in _entries(row.get(spec.nested)):
            records.append(
                {
                    "campaignid": campaign_id,
                    "linkid": link.get("id"),
                    "link_name": link.get("name"),
                    "link": link.get("link"),
                    "tracked": link.get("tracked"),
                    **entry,
                }
            )
    if spec.key_fields:
        for record in records:
            record["id"] = "-".join([campaign_id, *(str(record.get(name)) for name in spec.key_fields)])
    return records


def _entries(value: Any) -> list[dict[str, Any]]:
    """A nested v1 list: a JSON list, or an object keyed ``"0"``, ``"1"`` … (PHP arrays come as either)."""
    if isinstance(value, Mapping):
        value = [row for _, row in sorted((int(k), r) for k, r in value.items() if str(k).isdigit())]
    if not isinstance(value, list):
        return []
    return [dict(entry) for entry in value if isinstance(entry, Mapping)]


class ReportListReader:
    """Reads one v1 report list for the campaigns that can hold rows of a window.

    :param spec: The list (registry ``ReportList``).
    :param hook: The calling thread's hook (a function: readers run in several threads).
    :param window: Campaigns that started sending at or after its end are not read.
    :param timezone: Zone of the campaigns' naive ``sdate``.
    """

    def __init__(
        self,
        spec: ReportList,
        hook: Callable[[], ActiveCampaignHook],
        *,
        window: Window,
        timezone: str = "UTC",
        logger: Any = None,
    ) -> None:
        self.spec = spec
        self.hook = hook
        self.window = window
        self.timezone = timezone
        self.log = logger or log

    def wants(self, campaign: Mapping[str, Any]) -> bool:
        """Whether the campaign can have rows (counts not 0) in the window (sent before its end)."""
        expected = expected_rows(self.spec, campaign)
        if expected == 0:
            return False
        if self.window.end is None:
            return True
        started = self._sent_at(campaign)
        return started is None or started < self.window.end

    def read(self, campaign: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row of the list for one campaign (all pages), as export records."""
        spec = self.spec
        campaign_id = str(campaign.get("id"))
        expected = expected_rows(spec, campaign)
        rows: list[dict[str, Any]] = []
        previous: list[dict[str, Any]] | None = None
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {"campaignid": campaign_id}
            if spec.paged:
                params["page"] = page
            try:
                answer = self.hook().legacy_request(spec.action, params=params)
            except ActiveCampaignValidationError as error:
                if is_nothing_returned(error):
                    break
                raise
            batch = report_rows(answer, spec.action)
            if not batch:
                break
            if batch == previous:
                self.log.warning(
                    "%s for campaign %s answered page %d with the rows of page %d: ActiveCampaign "
                    "ignored `page`; the rows read so far are kept.",
                    spec.action,
                    campaign_id,
                    page,
                    page - 1,
                )
                break
            rows.extend(batch)
            if not spec.paged or (expected is not None and len(rows) >= expected):
                break
            previous = batch
        return export_rows(spec, campaign_id, rows)

    def _sent_at(self, campaign: Mapping[str, Any]) -> datetime | None:
        try:
            return record_time(campaign.get("sdate"), self.timezone)
        except UnparseableDateError:
            return None  # unknown: read it rather than miss its rows
