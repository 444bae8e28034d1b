"""The provider's one email rule (emails.py), used by the contacts sync, the automations and campaigns."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from airflow_provider_activecampaign.campaigns import api as campaigns_api
from airflow_provider_activecampaign.contacts import mapping as contacts_mapping
from airflow_provider_activecampaign.contacts import refs as contact_refs
from airflow_provider_activecampaign.contacts.emails import (
    MAX_EMAIL_LENGTH,
    MAX_LOCAL_PART_LENGTH,
    InvalidEmailError,
    check_email,
    email_key,
    is_valid_email,
)

LONGEST_LOCAL = "a" * MAX_LOCAL_PART_LENGTH
#: 254 characters: 64 + "@" + 189 (three 62-letter labels, dots, ".com").
LONGEST = f"{LONGEST_LOCAL}@{'b' * 61}.{'c' * 61}.{'d' * 61}.com"
assert len(LONGEST) == MAX_EMAIL_LENGTH

VALID: list[tuple[str, str]] = [
    # (given, what check_email returns: the address to send)
    ("o'brien@example.com", "o'brien@example.com"),  # RFC 5322 atext allows the apostrophe
    ("jörg@example.de", "jörg@example.de"),  # RFC 6531 internationalised local part
    ("user@bücher.de", "user@bücher.de"),  # internationalised domain, sent as given
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),  # its punycode form, also as given
    ("jo\u0308rg@example.de", "jörg@example.de"),  # decomposed ö: NFC-normalised
    ("Ann.Lee@Example.COM", "Ann.Lee@Example.COM"),  # case kept as given
    ("  ann@example.com\n", "ann@example.com"),  # surrounding whitespace trimmed
    ("ann.lee+tag@mail.example.co.uk", "ann.lee+tag@mail.example.co.uk"),
    ("a!#$%&*+/=?^_`{|}~-@example.com", "a!#$%&*+/=?^_`{|}~-@example.com"),
    ("a@b.co", "a@b.co"),
    ("user@123.example", "user@123.example"),
    (f"{LONGEST_LOCAL}@example.com", f"{LONGEST_LOCAL}@example.com"),  # 64 before the @
    (LONGEST, LONGEST),  # 254 in all
]

INVALID: list[tuple[str, str]] = [
    # (given, the reason after "... is not a valid email address: ")
    ("a..b@example.com", "it cannot have two periods in a row"),  # RFC 5321 dot-atom
    (".ann@example.com", "it cannot start with a period"),
    ("ann.@example.com", "it cannot have a period immediately before the @-sign"),
    ("ann@example.com.", "it cannot end with a period"),  # trailing dot
    ("ann@example..com", "it cannot have two periods in a row"),
    ('"ann lee"@example.com', "quoting the part before the @-sign is not allowed here"),
    ("ann lee@example.com", "it contains invalid characters before the @-sign: SPACE"),
    ("ann@exa mple.com", "the part after the @-sign contains invalid characters: SPACE"),
    ("ann\t@example.com", "it contains invalid characters before the @-sign: U+0009"),
    ("ann@example", "the part after the @-sign is not valid. It should have a period"),
    ("invalid.email@invalidDomain", "the part after the @-sign is not valid. It should have a period"),
    ("ann@localhost", "the part after the @-sign is not valid. It should have a period"),
    ("ann@example.test", "the part after the @-sign is a special-use or reserved name"),
    ("ann@[127.0.0.1]", "a bracketed IP address after the @-sign is not allowed here"),
    ("Ann <ann@example.com>", "a display name and angle brackets around the email address are not permitted"),
    ("ann@@example.com", "the part after the @-sign contains invalid characters: '@'"),
    ("@example.com", "there must be something before the @-sign"),
    ("ann@", "there must be something after the @-sign"),
    ("ann.example.com", "it must have an @-sign"),
    ("ann@-example.com", "it cannot have a hyphen immediately after the @-sign"),
    ("ann@exa_mple.com", "the part after the @-sign contains invalid characters: '_'"),
    ("", "it is empty"),
    ("   ", "it is empty"),
    (f"{LONGEST_LOCAL}a@example.com", "it is too long before the @-sign (1 character too many)"),
    (f"{LONGEST}m", "it is too long (1 character too many)"),
    (f"{'ö' * 65}@example.com", "it is too long before the @-sign (1 character too many)"),
]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Syntax only: a DNS lookup or a connection would fail the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the email check used the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(("given", "sent"), VALID)
def test_valid_addresses_are_returned_as_they_are_sent(given: str, sent: str) -> None:
    assert check_email(given) == sent
    assert is_valid_email(given)


@pytest.mark.parametrize(("given", "problem"), INVALID)
def test_invalid_addresses_raise_with_the_reason(given: str, problem: str) -> None:
    with pytest.raises(InvalidEmailError) as error:
        check_email(given)
    assert isinstance(error.value, ValueError)
    assert error.value.problem.startswith(problem)
    assert str(error.value) == f"{given.strip()!r} is not a valid email address: {error.value.problem}"
    assert not is_valid_email(given)


def test_a_value_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidEmailError, match="a int is not text"):
        check_email(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Ann@Example.com", "ann@example.com"),
        ("JÖRG@example.de", "jörg@example.de"),
        ("jo\u0308rg@example.de", "jörg@example.de"),
        (" ann@example.com ", "ann@example.com"),
    ],
)
def test_addresses_compare_case_insensitively(one: str, other: str) -> None:
    assert email_key(one) == email_key(other)


def test_every_caller_uses_this_rule() -> None:
    """No module keeps a regex of its own (they disagreed: the sync refused o'brien@, the rest took a..b@)."""
    for module in (contacts_mapping, contact_refs, campaigns_api):
        assert module.check_email is check_email
        assert not [name for name in vars(module) if "EMAIL" in name and name.isupper()]
