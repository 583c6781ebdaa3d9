"""Schemathesis against the live collector's own ``/openapi.json``: no 5xx, and every answer
conforms to what the document promises (status codes, content types, bodies, headers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apiwatch.server import create_app
from apiwatch.store import open_store
from tests.server.conftest import add_keys, served
from tests.server.helpers import event, ndjson

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@schemathesis.serializer(*NDJSON_TYPES)
def _ndjson_body(ctx: Any, value: Any) -> bytes:
    """The document says NDJSON text; generated values are sent as their text."""
    return (
        value.encode("utf-8", "surrogatepass")
        if isinstance(value, str)
        else json.dumps(value).encode()
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One collector for the whole module, with some events stored; yields (url, admin key)."""
    directory = tmp_path_factory.mktemp("fuzz")
    store = open_store(f"sqlite:///{directory}/fuzz.db", key_file=directory / "keys")
    keys = add_keys(store)
    try:
        with served(create_app(store)) as url:
            import httpx

            httpx.post(
                f"{url}/v1/events",
                content=ndjson([event(user="alice"), event(ip="2001:db8::5")]),
                headers={
                    "Content-Type": "application/x-ndjson",
                    "Authorization": f"Bearer {keys['ingest']}",
                },
            )
            yield url, keys["admin"]
    finally:
        store.close()


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_the_api_keeps_the_promises_of_its_openapi_document(
    live: tuple[str, str], mode: GenerationMode
) -> None:
    """Generated requests to every operation never get a 5xx and match the documented responses.

    Not checked: that every schema-valid request succeeds (most generated objects are not
    events, and the collector rightly refuses them with a documented 400), nor that every
    schema-violating one is refused (in a query string a "wrong type" such as an array often
    arrives as a perfectly valid string, e.g. ``url.path=true``).
    """
    url, admin = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:
        nothing_to_break = not list(operation.iter_parameters()) and not (
            operation.get_request_payload_content_types()
        )
        if mode is GenerationMode.NEGATIVE and nothing_to_break:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=url,
                headers={"Authorization": f"Bearer {admin}"},
                checks=CHECKS,
            )

        check()
