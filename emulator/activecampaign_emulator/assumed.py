"""Behaviours of the emulator that ActiveCampaign's reference does not document (*assumed*).

Each one can be switched off (``POST /_emulator/assumed {"name": false}``, or
``EmulatorClient.set_assumed(name=False)``), so code that relies on it can be tested both with
it and with what the reference alone promises. ``POST /_emulator/reset`` turns them all back on.
docs/emulator.md lists them with the reference's own wording.
"""

from __future__ import annotations

#: name -> what the emulator does when it is on (the default).
ASSUMED_BEHAVIOURS: dict[str, str] = {
    "custom_field_meta_total": (
        "GET /dealCustomFieldData, /accountCustomFieldData, /dealCustomFieldMeta and "
        "/accountCustomFieldMeta answer with meta.total; the reference's examples of these lists "
        "carry no meta (off: the lists come without meta)"
    ),
    "webhook_https_port_check": (
        "POST/PUT /webhooks refuse an https URL on a port other than 443 with a 422; the reference "
        "documents only 201 and says ActiveCampaign only sends https webhooks to port 443 "
        "(off: the webhook is created, and deliveries to it are never made)"
    ),
}


def defaults() -> dict[str, bool]:
    return dict.fromkeys(ASSUMED_BEHAVIOURS, True)
