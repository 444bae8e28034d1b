"""ActiveCampaign's webhook body -> nested dict.

ActiveCampaign POSTs ``application/x-www-form-urlencoded`` data with PHP-style keys
(``type=unsubscribe&contact[email]=a@b.c&contact[fields][12]=x``).  :func:`parse_form` rebuilds
the nesting PHP would (``{"contact": {"email": ..., "fields": {"12": ...}}}``) so the rules in
:mod:`.events` read one shape whatever the key order.  A body that is not that (JSON, binary,
an empty form, keys like ``contact[email`` or a scalar and a group under one name, a control
character in a name or an identifier such as ``contact[email]``) raises
:class:`WebhookPayloadError`: the receiver answers 400 and records nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

#: Bodies above this are refused unread (ActiveCampaign's deliveries are a few kilobytes).
MAX_BODY_BYTES = 256 * 1024
#: Nesting deeper than this is not an ActiveCampaign payload (``contact[fields][12]`` is 3).
MAX_DEPTH = 5
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
#: C0 controls and DEL: never in a field name, an id, an email or the event type.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Free text (a campaign's name, a note) may hold line breaks and tabs, never the other controls.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Nested = dict[str, Any]


class WebhookPayloadError(ValueError):
    """The body is not an ActiveCampaign webhook delivery; the message says what is wrong."""


def parse_form(body: bytes) -> Nested:
    """Decode a form-encoded body into nested dicts (``a[b][c]=v`` -> ``{"a": {"b": {"c": "v"}}}``).

    ``a[]=x&a[]=y`` becomes ``{"a": {"0": "x", "1": "y"}}`` (as PHP numbers them).  A repeated
    plain key keeps its last value, as PHP does.
    """
    if len(body) > MAX_BODY_BYTES:
        raise WebhookPayloadError(f"body is {len(body)} bytes; an ActiveCampaign delivery is far smaller")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(f"body is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not text.strip():
        raise WebhookPayloadError("body is empty; expected form fields such as type=...")
    if text.lstrip().startswith(("{", "[")):
        raise WebhookPayloadError("body looks like JSON; ActiveCampaign sends form-encoded fields")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=2000)
    except ValueError as exc:
        raise WebhookPayloadError(f"body is not form-encoded: {exc}") from exc
    root: Nested = {}
    for key, value in pairs:
        _check_controls(key, value)
        _insert(root, key, value)
    return root


def _check_controls(key: str, value: str) -> None:
    """Refuse control characters: anywhere in names and identifiers, all but line breaks in text.

    A NUL inside ``contact[email]`` is no address ActiveCampaign holds; recorded, it would reach
    every DAG that reads the event (and any system they write the address to).
    """
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", key)
    if _CONTROL.search(key):
        raise WebhookPayloadError(f"field name {shown!r} holds a control character")
    parts = [p for p in re.split(r"[\[\]]+", key) if p]
    identifier = len(parts) <= 1 or parts[-1] in ("email", "id") or parts[-1].endswith("id")
    pattern = _CONTROL if identifier else _CONTROL_IN_TEXT
    found = pattern.search(value)
    if found is not None:
        kind = "identifier" if identifier else "value"
        raise WebhookPayloadError(
            f"field {key!r} ({kind}) holds a control character (\\x{ord(found.group()):02x} at "
            f"position {found.start()}); an ActiveCampaign delivery holds none"
        )


def _insert(root: Nested, key: str, value: str) -> None:
    match = _KEY.match(key)
    if match is None:
        raise WebhookPayloadError(f"field name {key!r} is not a name or name[part]... key")
    parts = [match.group(1), *_PART.findall(match.group(2))]
    if len(parts) > MAX_DEPTH:
        raise WebhookPayloadError(f"field name {key!r} nests deeper than {MAX_DEPTH} levels")
    node = root
    for depth, part in enumerate(parts[:-1]):
        if part == "":
            part = str(len(node))
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise WebhookPayloadError(f"field {'['.join(parts[: depth + 1])!r} is both a value and a group")
        node = child
    last = parts[-1]
    if last == "":
        last = str(len(node))
    if isinstance(node.get(last), dict):
        raise WebhookPayloadError(f"field {key!r} is both a value and a group")
    node[last] = value
