"""Rendering one `Request` as nginx logs it (combined format) and as the apiwatch sensor emits
it (ECS NDJSON: the request's own event, then the app's audit events for that request)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from apiwatch.model import (
    Action,
    Event,
    EventMeta,
    Host,
    Http,
    HttpRequest,
    HttpResponse,
    Log,
    Service,
    Source,
    Url,
    User,
    UserAgent,
    encode_event,
)
from tests.adversarial.records import Audit, Request

__all__ = ["START", "EcsRenderer", "nginx_line"]

START = datetime(2026, 11, 17, 7, 0, 0, tzinfo=UTC)
"""When the log begins (08:00 in the server's time zone, UTC+1)."""

_LOCAL = timedelta(hours=1)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def nginx_line(request: Request) -> str:
    """The ``combined`` line nginx writes for the request (server time zone +0100)."""
    local = START + timedelta(seconds=request.at) + _LOCAL
    stamp = f"{local:%d}/{_MONTHS[local.month - 1]}/{local:%Y:%H:%M:%S} +0100"
    target = f"{request.path}?{request.query}" if request.query else request.path
    return (
        f'{request.ip} - - [{stamp}] "{request.method} {target} HTTP/1.1" {request.status} '
        f'{request.body_bytes} "{request.referer}" "{request.agent}"'
    )


class EcsRenderer:
    """Renders requests as the sensor would, with deterministic event ids and keyed token
    fingerprints (the sensor's BLAKE2b, keyed per deployment)."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"adversarial-{seed}".encode()).digest()[:32]
        self._count = 0
        self._service = Service(name="shop-api")
        self._host = Host(name="shop-api-7d9f8c-x2kq4")

    def __call__(self, request: Request) -> list[str]:
        """The request's event, then its audit events, each one JSON line."""
        first = self._request_event(request)
        lines = [encode_event(first).decode()]
        for audit in request.audit:
            lines.append(encode_event(self._audit_event(request, audit, first.event.id)).decode())
        return lines

    def _id(self) -> str:
        self._count += 1
        return hashlib.blake2b(
            f"{self._key.hex()}:{self._count}".encode(), digest_size=16
        ).hexdigest()

    def fingerprint(self, secret: str) -> str:
        """What ``labels.token_id`` / ``labels.session_id`` hold for a token or cookie."""
        return hashlib.blake2b(secret.encode(), key=self._key, digest_size=16).hexdigest()

    def _labels(self, request: Request) -> dict[str, str]:
        labels = {}
        if request.route:
            labels["route"] = request.route
        if request.token:
            labels["token_id"] = self.fingerprint(request.token)
        if request.session:
            labels["session_id"] = self.fingerprint(request.session)
        return labels

    def _request_event(self, request: Request) -> Event:
        action = Action(request.action)
        spec = action.spec
        mixed = action is Action.HTTP_REQUEST
        outcome = ("success" if request.status < 400 else "failure") if mixed else spec.outcome
        event_id = self._id()
        return Event(
            timestamp=START + timedelta(seconds=request.at),
            event=EventMeta(
                id=event_id,
                action=action.value,
                kind="event",
                category=list(spec.category),
                type=list(spec.type),
                outcome=outcome,
                duration=_duration(request),
                severity=spec.severity,
            ),
            log=Log(level=spec.level.lower(), logger="apiwatch.events"),
            source=Source(ip=request.ip),
            http=Http(
                request=HttpRequest(method=request.method, id=event_id),
                response=HttpResponse(status_code=request.status),
            ),
            url=Url(path=request.path, query=_masked(request.query)),
            user_agent=UserAgent(original=request.agent),
            user=User(name=request.user, id=request.user_id) if request.user else None,
            service=self._service,
            host=self._host,
            labels=self._labels(request),
        )

    def _audit_event(self, request: Request, audit: Audit, request_id: str) -> Event:
        """An audit event: the request's who and where, same ``http.request.id``."""
        action = Action(audit.action)
        spec = action.spec
        return Event(
            timestamp=START + timedelta(seconds=request.at),
            event=EventMeta(
                id=self._id(),
                action=action.value,
                kind="event",
                category=list(spec.category),
                type=list(spec.type),
                outcome=audit.outcome,
                severity=spec.severity,
                reason=audit.reason,
            ),
            log=Log(level=spec.level.lower(), logger="apiwatch.events"),
            source=Source(ip=request.ip),
            http=Http(request=HttpRequest(method=request.method, id=request_id)),
            url=Url(path=request.path),
            user_agent=UserAgent(original=request.agent),
            user=User(name=audit.user),
            service=self._service,
            host=self._host,
            labels=self._labels(request),
        )


def _duration(request: Request) -> int:
    """A plausible response time in nanoseconds, stable per request."""
    spread = (int(request.at * 1000) * 2654435761) % 180
    base = 120 if request.action.startswith("authn") else 8  # password hashing is slow
    return (base + spread) * 1_000_000


def _masked(query: str) -> str | None:
    return query or None
