"""Redaction and escaping of single values: what `clean`, `redact_text` and `mask_query` do."""

from __future__ import annotations

import pytest

from apiwatch.sensor import MemoryOutput
from apiwatch.sensor._config import SensorConfig
from apiwatch.sensor._sanitize import clean, mask_query, redact_text

from .apps import fastapi_app
from .asgi_helpers import call_asgi
from .conftest import decoded


@pytest.mark.parametrize(
    "query",
    [
        "cc=4111+1111+1111+1111",
        "note=my%20card%204111%201111%201111%201111",
        "next=%2Freset%3Ftoken%3Dabc123456",
    ],
)
def test_encoded_secret_in_an_innocent_query_parameter_is_masked(query: str) -> None:
    """A card or credential hidden by URL encoding in any parameter's value is masked."""
    name = query.partition("=")[0]
    assert mask_query(f"page=2&{query}") == f"page=2&{name}=[REDACTED]"


def test_plain_encoded_query_values_are_kept() -> None:
    """Encoded values holding no secret are left exactly as sent."""
    assert mask_query("q=hello+world&next=%2Fhome") == "q=hello+world&next=%2Fhome"


def test_card_number_at_the_end_of_a_sentence_is_redacted() -> None:
    """A card number followed by a full stop is still a card number; a decimal is not."""
    assert redact_text("My card is 4111 1111 1111 1111.") == "My card is [REDACTED]."
    assert redact_text("total 4111111111111111.50") == "total 4111111111111111.50"


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\u200b", "\\u200b"),
        ("\u200f", "\\u200f"),
        ("\u061c", "\\u061c"),
        ("\ufeff", "\\ufeff"),
        ("\u2060", "\\u2060"),
        ("\u2064", "\\u2064"),
        ("\u00ad", "\\xad"),
        ("\x1b", "\\x1b"),
        ("\u2028", "\\u2028"),
        ("\ud800", "\\ud800"),
        ("\t", "\\t"),
    ],
)
def test_every_non_printable_character_is_escaped(char: str, escaped: str) -> None:
    """Format characters (zero-width, bidi marks, BOM), controls and separators are escaped."""
    assert clean(f"ad{char}min x", 100) == f"ad{escaped}min x"


def test_printable_text_and_spaces_are_unchanged() -> None:
    """Printable Unicode and plain spaces pass through clean untouched."""
    assert clean("Zoë 日本 ok", 100) == "Zoë 日本 ok"


def test_redact_keys_are_normalised_like_lookups(memory: MemoryOutput) -> None:
    """redact_keys=["acct.no"] masks the acct.no query parameter (separators are ignored)."""
    assert SensorConfig.from_options(service="shop", redact_keys=["Acct.No"]).redact_keys == {
        "acctno"
    }
    call_asgi(
        fastapi_app(outputs=[memory], redact_keys=["acct.no"]),
        "GET",
        "/users/1",
        query=b"acct.no=12345678&page=1",
    )
    assert decoded(memory)[0]["url"]["query"] == "acct.no=[REDACTED]&page=1"
