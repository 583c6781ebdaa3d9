"""Secrets in log lines: found by kind and field, never returned."""

from __future__ import annotations

import pytest

from apiwatch.logaudit import Leak, find_leaks

LINE = '203.0.113.7 - - [10/Oct/2026:13:55:36 +0000] "GET {target} HTTP/1.1" 200 5 "-" "curl/8"'


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/login?user=bob&password=hunter2", Leak("password", "query parameter password")),
        ("/api?access_token=abcdef123", Leak("token", "query parameter access_token")),
        ("/api?api_key=k3y", Leak("token", "query parameter api_key")),
        ("/cart;jsessionid=0A1B2C3D", Leak("session id", "query parameter jsessionid")),
        ("/x?PHPSESSID=abc", Leak("session id", "query parameter PHPSESSID")),
    ],
)
def test_secrets_in_query_strings_are_named_by_parameter(target: str, expected: Leak) -> None:
    """A password, token or session id in the URL is reported by its parameter's name."""
    assert expected in find_leaks(LINE.format(target=target))


def test_the_value_is_never_part_of_a_leak() -> None:
    """What a leak says holds the parameter's name, not its value."""
    leaks = find_leaks(LINE.format(target="/login?password=S3cr3t-Value"))
    assert leaks
    assert all("S3cr3t" not in leak.kind + leak.field for leak in leaks)


def test_redacted_and_fingerprinted_values_are_not_leaks() -> None:
    """password=*** or a JSON token already replaced by a fingerprint (#...) is fine."""
    assert not find_leaks(LINE.format(target="/login?password=***&token="))
    assert not find_leaks('{"user": {"name": "a"}, "token": "#9f86d081884c7d65"}')


def test_json_keys_authorization_values_and_jwts() -> None:
    """A JSON key named like a secret, a Bearer value and a JWT are each reported."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    line = f'{{"user": {{"password": "pw1"}}, "headers": "Authorization: Bearer {jwt}"}}'
    kinds = {(leak.kind, leak.field) for leak in find_leaks(line)}
    assert ("password", "JSON key password") in kinds
    assert ("authorization header", "Authorization value (Bearer/Basic)") in kinds
    assert ("token", "JSON Web Token") in kinds


@pytest.mark.parametrize(
    ("text", "leaks"),
    [
        ("card=4111 1111 1111 1111", True),  # Visa test number
        ("pan 5500-0000-0000-0004", True),  # Mastercard test number
        ("order 4111111111111112", False),  # fails the Luhn check
        ("ts=1700000000000123", False),  # an epoch in microseconds: no card network's prefix
        ("id 79927398713", False),  # Luhn-valid but too short for a card
        ('"id":"4111111111111111"', True),  # a card number in a JSON string is still one
        ('"id":"ab4111111111111111cd0e1f2a3b4c"', False),  # hex request id: Luhn-valid digits
        ('"id":"4111111111111111ab3d9c0e1f2a3b4c"', False),  # ... also where the id starts
    ],
)
def test_card_numbers_need_a_network_prefix_and_the_luhn_check(text: str, leaks: bool) -> None:
    """Only digits shaped like a payment card (prefix, length, Luhn) count."""
    found = Leak("card number", "digits passing the Luhn check") in find_leaks(text)
    assert found is leaks
