"""ActiveCampaign's webhook body -> nested dict.

ActiveCampaign POSTs ``application/x-www-form-urlencoded`` data with PHP-style keys
(``type=unsubscribe&contact[email]=a@b.c&contact[fields][12]=x``).  :func:`parse_form` rebuilds
the nesting PHP would (``{"contact": {"email": ..., "fields": {"12": ...}}}``) so the rules in
:mod:`.events` read one shape whatever the key order.  A body that is not that (JSON, binary,
an empty form, keys like ``contact[email`` or a scalar and a group under one name) raises
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
        _insert(root, key, value)
    return root


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
