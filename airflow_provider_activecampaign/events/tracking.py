"""Custom events through ActiveCampaign event tracking: checked first, sent once, never resent blindly.

An event is ``POST https://trackcmp.net/event`` (form-encoded: ``actid``, ``key``, ``event``,
optional ``eventdata``, ``visit={"email": …}``), answered ``{"success": 1, "message": "Event
spawned"}``. Two documented traps shape this module:

* **Tracking switched off**: events sent then are not saved although the call appears to succeed
  (V1:track_event_add). So :meth:`EventTracker.check_enabled` reads ``GET /api/3/eventTracking``
  first and refuses the run, with nothing sent and nothing claimed, when it is not enabled.
* **No idempotency key**: a tracking post sent twice may record the event twice. The transport
  therefore retries only what was certainly not recorded (a 429, a refused connection); a 5xx or a
  connection lost after sending is ambiguous and the event is *not* resent: it is reported as
  ``unknown`` (may have been recorded once), so a person can check the contact's activity rather
  than the account getting a duplicate "invoice paid" that starts an automation twice.

Event names must exist in the account's list of events (``GET /eventTrackingEvents``); a missing
name is created first (``POST /eventTrackingEvents``, name only) when ``create_events`` is on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignConfigError,
    ActiveCampaignError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email
from airflow_provider_activecampaign.records.upsert import RecordRejected, empty

log = logging.getLogger(__name__)

#: The longest event name event tracking takes.
MAX_EVENT_NAME = 32


class ActiveCampaignEventTrackingDisabledError(ActiveCampaignConfigError):
    """Event tracking is off for the account: events would be accepted and silently not saved."""


class EventNotRecordedError(ActiveCampaignError):
    """Event tracking answered, but not with ``success: 1``: the event was not recorded."""


@dataclass
class EventTally:
    records: int = 0
    sent: int = 0
    rejected: int = 0
    #: ActiveCampaign answered but did not record the event (``success`` 0, a 4xx).
    failed: int = 0
    #: Sent, then the answer was lost (5xx, dropped connection): may have been recorded; not resent.
    unknown: int = 0
    created_event_names: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    email: str
    name: str
    data: str | None = None

    def form(self) -> dict[str, str]:
        form = {"event": self.name, "visit": json.dumps({"email": self.email})}
        if self.data is not None:
            form["eventdata"] = self.data
        return form


def build_event(
    record: Mapping[str, Any],
    *,
    event: str | None = None,
    email_column: str = "email",
    event_column: str = "event",
    data_column: str = "eventdata",
) -> Event:
    """The event a record describes; a bad email, name or data rejects the record (nothing sent)."""
    try:
        email = check_email(str(record.get(email_column) or ""))
    except InvalidEmailError as error:
        raise RecordRejected(email_column, str(error)) from None
    name = record.get(event_column) if not empty(record.get(event_column)) else event
    if empty(name):
        raise RecordRejected(event_column, "no event name (set the column or the operator's event)")
    name = str(name).strip()
    if len(name) > MAX_EVENT_NAME:
        raise RecordRejected(
            event_column, f"{name!r} is {len(name)} characters; event tracking takes at most {MAX_EVENT_NAME}"
        )
    data = record.get(data_column)
    if empty(data):
        text = None
    elif isinstance(data, str):
        text = data
    else:
        try:
            # allow_nan=False: NaN and Infinity are not JSON; sent, they would be an invalid eventdata.
            text = json.dumps(data, default=str, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise RecordRejected(
                data_column,
                f"cannot be written as JSON ({error}); replace NaN/Infinity with null or a number",
            ) from None
    return Event(email=email, name=name, data=text)


class EventTracker:
    """Checks the account, makes sure the event names exist, and posts events through the hook."""

    def __init__(self, hook: ActiveCampaignHook, *, create_events: bool = True, logger: Any = None) -> None:
        self.hook = hook
        self.create_events = create_events
        self.log = logger or log
        self.tally = EventTally()
        self._names: set[str] | None = None

    def check_enabled(self) -> None:
        """Refuse before sending anything if the connection lacks the tracking extras or tracking is off."""
        missing = self.hook.settings.missing_tracking_extras
        if missing:
            raise ActiveCampaignConfigError(
                f"The connection {self.hook.activecampaign_conn_id!r} has no {' and no '.join(missing)} "
                "extra, so no event was sent.",
                hint="Copy the tracking account id (actid) and the Event Key from ActiveCampaign "
                "Settings → Tracking → Event Tracking into the extras event_tracking_actid and "
                "event_tracking_secret.",
            )
        answer = self.hook.get("eventTracking")
        status = (answer or {}).get("eventTracking") if isinstance(answer, Mapping) else None
        enabled = (status or {}).get("enabled")
        if enabled not in (True, 1, "1", "true", "True"):
            raise ActiveCampaignEventTrackingDisabledError(
                "Event tracking is not enabled for this ActiveCampaign account (GET /api/3/eventTracking "
                f"answered enabled={enabled!r}); events sent now would be accepted and not saved, so "
                "none was sent.",
                hint="Enable it in ActiveCampaign Settings → Tracking → Event Tracking (or PUT "
                '/api/3/eventTracking {"eventTracking": {"enabled": true}}), then re-run the task.',
            )

    def ensure_name(self, name: str) -> None:
        """Make sure ``name`` is one of the account's events (created once when allowed)."""
        if self._names is None:
            self._names = {
                str(item.get("name", "")).lower()
                for item in self.hook.paginate("eventTrackingEvents", key="eventTrackingEvents")
            }
        if name.lower() in self._names:
            return
        if not self.create_events:
            raise RecordRejected(
                "event", f"{name!r} is not an event of this account; create it or set create_events=True"
            )
        try:
            self.hook.post("eventTrackingEvents", {"eventTrackingEvent": {"name": name}})
        except (ActiveCampaignAmbiguousWriteError, ActiveCampaignValidationError):
            # Ambiguous, or 422 because it exists: the list says which (a name is created at most once).
            self._names = None
            self.ensure_name_exists(name)
            return
        self.tally.created_event_names += 1
        self._names.add(name.lower())

    def ensure_name_exists(self, name: str) -> None:
        names = {
            str(item.get("name", "")).lower()
            for item in self.hook.paginate("eventTrackingEvents", key="eventTrackingEvents")
        }
        self._names = names
        if name.lower() not in names:
            raise RecordRejected("event", f"the event name {name!r} could not be created")

    def send(self, event: Event) -> str:
        """Post one event: ``sent``, ``failed`` (refused) or ``unknown`` (may be recorded; not resent)."""
        try:
            answer = self.hook.track_event(event.form())
        except ActiveCampaignAmbiguousWriteError:
            self.tally.unknown += 1
            raise
        except ActiveCampaignValidationError:
            self.tally.failed += 1
            raise
        success = (answer or {}).get("success") if isinstance(answer, Mapping) else None
        if str(success) != "1":
            self.tally.failed += 1
            message = (answer or {}).get("message") if isinstance(answer, Mapping) else answer
            raise EventNotRecordedError(f"Event tracking did not record {event.name!r}: {str(message)[:200]}")
        self.tally.sent += 1
        return "sent"
