"""The one email-address check of the provider: the contacts sync, the automation operators, campaigns.

:func:`check_email` decides whether a value is an address worth sending to ActiveCampaign; it
checks syntax only (``email-validator`` with ``check_deliverability=False``: no DNS, no network).
The rules (also in ``docs/operators/contacts.md``, "Email addresses"):

* Surrounding whitespace is removed; whitespace inside the address is an error.
* The part before the ``@`` is an RFC 5322 dot-atom: letters, digits and
  ``!#$%&'*+/=?^_`{|}~-``, so ``o'brien@example.com`` and ``ann+tag@example.com`` are valid.
  Dots may not start or end it nor come two in a row (``a..b@`` and ``a.@`` are invalid,
  RFC 5321). Quoted local parts (``"a b"@example.com``) are refused: valid in RFC 5321, but
  ActiveCampaign documents no support and they are nearly always a data error.
* Internationalised addresses (RFC 6531/6532) are valid: ``jörg@example.de``, ``user@bücher.de``.
  ActiveCampaign documents no rule for them either way.
* The domain needs a dot and a real top-level domain (``ann@example``, ActiveCampaign's own
  failing example ``invalid.email@invalidDomain``, ``user@localhost`` and special-use names such
  as ``.test``, ``.local`` and ``.invalid`` are invalid), and no trailing dot
  (``ann@example.com.``). No IP addresses (``ann@[127.0.0.1]``), no display names
  (``Ann <ann@example.com>``).
* At most 254 characters in all (UTF-8 bytes for internationalised addresses) and 64 before the ``@``.

Case: an address is sent as given (only trimmed and Unicode NFC-normalised, which leaves ASCII
unchanged); two addresses are the same contact when their :func:`email_key` (lower case) match,
as ActiveCampaign matches them.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from airflow_provider_activecampaign.hooks.transport.redaction import bounded

#: RFC 5321 4.5.3.1.3 (as corrected by erratum 1690): the longest address that can be sent.
MAX_EMAIL_LENGTH = 254
#: RFC 5321 4.5.3.1.1: the longest local part (the text before the ``@``).
MAX_LOCAL_PART_LENGTH = 64


class InvalidEmailError(ValueError):
    """``address`` is not a valid email address; ``problem`` says why (``str()`` says both)."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(f"{bounded(address, 320)} is not a valid email address: {problem}")


def check_email(value: str) -> str:
    """Return ``value`` as it should be sent (trimmed, NFC), or raise :class:`InvalidEmailError`."""
    if not isinstance(value, str):
        raise InvalidEmailError(str(value), f"a {type(value).__name__} is not text")
    address = unicodedata.normalize("NFC", value.strip())
    if not address:
        raise InvalidEmailError(address, "it is empty")
    try:
        validate_email(
            address,
            check_deliverability=False,  # syntax only: never DNS, never the network
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
            globally_deliverable=True,
            test_environment=False,
            strict=True,  # also enforces the 64-character local part
        )
    except EmailNotValidError as error:
        raise InvalidEmailError(address, _problem(str(error))) from None
    return address


def is_valid_email(value: str) -> bool:
    """Whether :func:`check_email` accepts ``value``."""
    try:
        check_email(value)
    except InvalidEmailError:
        return False
    return True


def email_key(address: str) -> str:
    """What two spellings of one address have in common: trimmed, NFC, lower case."""
    return unicodedata.normalize("NFC", address.strip()).lower()


def _problem(message: str) -> str:
    """email-validator's sentence as a clause: "An email address cannot …." → "it cannot …"."""
    text = message.strip().rstrip(".")
    for subject in ("An email address ", "The email address "):
        if text.startswith(subject):
            return "it " + text[len(subject) :]
    return text[:1].lower() + text[1:]
