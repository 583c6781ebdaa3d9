"""Events through stdlib logging: the default stderr ECS lines, app logging, and structlog."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

from apiwatch.model.event import ECS_VERSION
from apiwatch.sensor import EcsFormatter, LoggingOutput

from .apps import fastapi_app

SCRIPT = textwrap.dedent(
    """
    from starlette.testclient import TestClient
    from tests.sensor.apps import fastapi_app
    client = TestClient(fastapi_app())
    client.post("/users/login", json={"username": "alice", "password": "pw-123456"})
    client.get("/users/1")
    """
)


def test_middleware_alone_writes_ecs_json_lines_to_stderr() -> None:
    """With only service= configured, each request is one ECS JSON line on stderr."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [event["event"]["action"] for event in lines] == ["authn_login_fail", "http_request"]
    assert lines[0]["user"]["name"] == "alice"
    assert "pw-123456" not in result.stderr


def test_events_follow_the_apps_logging_configuration() -> None:
    """When the app configured the apiwatch.events logger, events go to its handler unchanged."""
    logger = logging.getLogger("apiwatch.events.test")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        from starlette.testclient import TestClient

        TestClient(fastapi_app(outputs=[LoggingOutput("apiwatch.events.test")])).get("/users/1")
    finally:
        logger.removeHandler(handler)
    [record] = records
    assert json.loads(record.getMessage())["url"]["path"] == "/users/1"
    assert record.apiwatch_event.event.action == "http_request"  # type: ignore[attr-defined]
    assert EcsFormatter().format(record) == record.getMessage()


def test_formatter_turns_app_records_into_ecs_with_errors() -> None:
    """An ordinary record with an exception becomes ECS with error.type/message/stack_trace."""
    try:
        raise ValueError("bad token=abc123secret")
    except ValueError:
        record = logging.LogRecord(
            "shop.orders", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    doc = json.loads(EcsFormatter(service="shop").format(record))
    assert doc["log"] == {"level": "error", "logger": "shop.orders"}
    assert doc["service"] == {"name": "shop"}
    assert doc["error"]["type"] == "ValueError"
    assert "abc123secret" not in json.dumps(doc)


def test_structlog_through_stdlib_is_formatted_as_ecs() -> None:
    """structlog event dicts rendered through the stdlib become ECS with labels, secrets masked."""
    import structlog

    stream_records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream_records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(EcsFormatter())
    std = logging.getLogger("structlog.test")
    std.addHandler(handler)
    std.setLevel(logging.INFO)
    std.propagate = False
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("structlog.test")
        log.info("order placed", order_id=17, api_key="sk_live_123456789")
    finally:
        structlog.reset_defaults()
        std.removeHandler(handler)
    doc = json.loads(stream_records[0])
    assert doc["message"] == "order placed"
    assert doc["labels"]["order_id"] == "17"
    assert doc["labels"]["api_key"] == "[REDACTED]"
    assert "sk_live_123456789" not in stream_records[0]


def test_event_records_carry_every_standard_attribute() -> None:
    """An event's LogRecord formats with every standard %-style field, as any record does."""
    logger = logging.getLogger("apiwatch.events.fields")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    fields = (
        "%(name)s|%(levelno)s|%(levelname)s|%(pathname)s|%(filename)s|%(module)s|%(lineno)d|"
        "%(funcName)s|%(created)f|%(asctime)s|%(msecs)d|%(relativeCreated)d|%(thread)d|"
        "%(threadName)s|%(processName)s|%(process)d|%(message)s"
    )
    handler.setFormatter(logging.Formatter(fields))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        from starlette.testclient import TestClient

        TestClient(fastapi_app(outputs=[LoggingOutput("apiwatch.events.fields")])).get("/users/1")
    finally:
        logger.removeHandler(handler)
    parts = lines[0].split("|", 16)
    assert parts[0] == "apiwatch.events.fields"
    assert parts[2] == "INFO"
    assert parts[14] == "MainProcess"
    assert json.loads(parts[16])["url"]["path"] == "/users/1"


def test_an_apps_record_factory_is_honoured() -> None:
    """With a custom LogRecord factory installed, event records are made by it."""
    made: list[logging.LogRecord] = []
    default = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = default(*args, **kwargs)  # type: ignore[arg-type]
        record.tenant = "acme"  # type: ignore[attr-defined]
        made.append(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        from starlette.testclient import TestClient

        TestClient(fastapi_app(outputs=[LoggingOutput("apiwatch.events.factory")])).get("/users/1")
    finally:
        logging.setLogRecordFactory(default)
    assert [record.tenant for record in made] == ["acme"]  # type: ignore[attr-defined]


def test_every_line_the_sensor_writes_carries_ecs_version() -> None:
    """Request events on stderr and app records through EcsFormatter carry ``ecs.version``."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["ecs"] == {"version": ECS_VERSION} for line in lines)
    record = logging.LogRecord("shop", logging.INFO, __file__, 1, "hello", (), None)
    assert json.loads(EcsFormatter(service="shop").format(record))["ecs"] == {
        "version": ECS_VERSION
    }
