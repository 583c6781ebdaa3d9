"""apiwatch.audit: vocabulary events from app code, with the request's context filled in."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading

import pytest
from starlette.testclient import TestClient

from apiwatch import audit
from apiwatch.model import Action
from apiwatch.sensor import MemoryOutput, Sensor
from apiwatch.sensor import audit as sensor_audit
from apiwatch.sensor._context import current_request

from .apps import fastapi_app
from .conftest import decoded


def test_audit_event_inside_a_sync_endpoint_carries_request_context(
    memory: MemoryOutput,
) -> None:
    """An audit call in a sync (threadpool) endpoint gets the request's IP, UA and request id."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/whoami", headers={"User-Agent": "app/1.0", "X-Request-ID": "rid-1"})
    audited, request = decoded(memory)
    assert audited["event"]["action"] == "sensitive_read"
    assert audited["labels"]["object"] == "customer/42"
    assert audited["user"]["name"] == "carol"
    assert audited["http"]["request"]["id"] == request["http"]["request"]["id"] == "rid-1"
    assert audited["user_agent"]["original"] == "app/1.0"
    assert audited["source"] == request["source"]
    assert request["user"] == {"name": "carol", "id": "7"}


def test_explicit_login_report_replaces_the_inferred_one(memory: MemoryOutput) -> None:
    """When the app reports a login outcome itself, the request event does not repeat it."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.post("/audited-login", json={"username": "zoe", "password": "whatever1"})
    audited, request = decoded(memory)
    assert audited["event"]["action"] == "authn_login_fail"
    assert audited["event"]["reason"] == "unknown account"
    assert audited["user"]["name"] == "zoe"
    assert request["event"]["action"] == "http_request"


def test_audit_outside_a_request_uses_the_configured_sensor(memory: MemoryOutput) -> None:
    """Outside a request, audit events go to audit.configure()'s sensor, without request fields."""
    audit.configure(service="batch-job", outputs=[memory])
    audit.startup("ops")
    [event] = decoded(memory)
    assert event["event"]["action"] == "sys_startup"
    assert event["service"]["name"] == "batch-job"
    assert "source" not in event and "http" not in event


def test_audit_works_from_asyncio_tasks_and_threads(memory: MemoryOutput) -> None:
    """The request context follows asyncio tasks; a plain thread without it still emits."""
    sensor = Sensor.from_options(service="shop", outputs=[memory])
    ctx = sensor.begin("GET", "/x", "192.0.2.1", {}, None)
    from apiwatch.sensor._context import enter_request, restore_request

    async def handler() -> None:
        await asyncio.sleep(0)
        audit.authz_failed("mallory", resource="invoice/9")

    previous = enter_request(ctx)
    try:
        asyncio.run(handler())
    finally:
        restore_request(previous)
    audit.configure(service="shop", outputs=[memory])
    thread = threading.Thread(target=audit.session_expired, args=("mallory",))
    thread.start()
    thread.join()
    first, second = decoded(memory)
    assert first["source"]["ip"] == "192.0.2.1"
    assert first["labels"]["resource"] == "invoice/9"
    assert second["event"]["action"] == "session_expired"
    assert current_request() is None


def test_token_reuse_fingerprints_the_token(memory: MemoryOutput) -> None:
    """token_reused() records a keyed fingerprint of the revoked token, never the token."""
    sensor = audit.configure(service="shop", outputs=[memory], token_key="x" * 32)
    audit.token_reused("nina", token="eyJhbGciOiJIUzI1NiJ9.payload-part.signature-part")
    [event] = decoded(memory)
    assert event["event"]["action"] == "authn_token_reuse"
    assert event["labels"]["target_token_id"] == sensor.fingerprint(
        "eyJhbGciOiJIUzI1NiJ9.payload-part.signature-part"
    )
    assert b"payload-part" not in memory.lines[0]


def test_secret_looking_labels_and_values_are_redacted(memory: MemoryOutput) -> None:
    """Labels named like secrets, and secrets inside label values, are redacted."""
    audit.configure(service="shop", outputs=[memory])
    audit.emit(
        Action.INPUT_VALIDATION_FAIL,
        labels={"password": "hunter22", "note": "card 4111 1111 1111 1111 declined"},
    )
    [event] = decoded(memory)
    assert event["labels"]["password"] == "[REDACTED]"
    assert event["labels"]["note"] == "card [REDACTED] declined"


def test_failed_upload_validation_is_critical(memory: MemoryOutput) -> None:
    """upload_validation is INFO when passed and CRITICAL with outcome failure when failed."""
    audit.configure(service="shop", outputs=[memory])
    audit.upload_validated(filename="a.png", validator="virusscan", result="passed")
    audit.upload_validated(filename="b.png", validator="virusscan", result="FAILED")
    passed, failed = decoded(memory)
    assert passed["log"]["level"] == "info"
    assert (failed["log"]["level"], failed["event"]["outcome"]) == ("critical", "failure")


def test_every_vocabulary_event_has_an_audit_function(memory: MemoryOutput) -> None:
    """Each OWASP vocabulary action is emitted by some audit function (no family is missing)."""
    audit.configure(service="shop", outputs=[memory])
    for name in audit.__all__:
        function = getattr(audit, name)
        if name in {"configure", "emit", "identify"}:
            continue
        function(**_arguments(function))
    audit.login_succeeded("x", retries=2)
    emitted = {event["event"]["action"] for event in decoded(memory)}
    expected = {action.value for action in Action} - {"http_request"}
    assert emitted == expected


def _arguments(function: object) -> dict[str, object]:
    values: dict[str, object] = {}
    for parameter in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if parameter.default is inspect.Parameter.empty:
            values[parameter.name] = ["a"] if parameter.name == "fields" else "x"
    return values


def test_login_succeeded_after_failures(memory: MemoryOutput) -> None:
    """login_succeeded(retries=N) is authn_login_successafterfail with the retry count."""
    audit.configure(service="shop", outputs=[memory])
    audit.login_succeeded("olga", retries=3)
    [event] = decoded(memory)
    assert event["event"]["action"] == "authn_login_successafterfail"
    assert event["labels"]["retries"] == "3"


def test_unknown_action_is_counted_not_raised(memory: MemoryOutput) -> None:
    """audit.emit with a name outside the vocabulary never raises; the sensor counts it."""
    sensor = audit.configure(service="shop", outputs=[memory])
    audit.emit("not_a_vocabulary_name")
    assert sensor.stats.errors == 1
    assert memory.lines == []


@pytest.fixture(autouse=True)
def _reset_audit_fallback() -> None:
    audit.configure(service="test", outputs=[])


def test_a_thread_keeps_the_request_context_only_through_copy_context(
    memory: MemoryOutput, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread started with contextvars.copy_context().run keeps the request; a plain one not."""
    from apiwatch.sensor._context import enter_request, restore_request

    monkeypatch.setattr(sensor_audit, "_fallback", None)  # outside a request: the newest sensor
    sensor = Sensor.from_options(service="shop", outputs=[memory])
    previous = enter_request(sensor.begin("GET", "/x", "192.0.2.1", {}, None))
    try:
        for target, args in (
            (contextvars.copy_context().run, (audit.session_expired, "copied")),
            (audit.session_expired, ("plain",)),
        ):
            thread = threading.Thread(target=target, args=args)
            thread.start()
            thread.join()
    finally:
        restore_request(previous)
    copied, plain = decoded(memory)
    assert copied["source"]["ip"] == "192.0.2.1"
    assert "source" not in plain
