"""`replay`: send a scenario's shop requests as real HTTP requests to a running app.

Each request goes out with the simulated client's address in ``X-Forwarded-For`` (configure the
app's sensor to trust the replaying host as a proxy), its user agent and referer, its bearer token,
its login or reset body, and, when replaying a `Scenario`, ``X-Request-Id`` set to the simulated
event's id. The request target is sent exactly as simulated (``/../../etc/passwd`` is not
normalised away). Logins succeed against an app that checks passwords with
``scenario.accounts`` and tokens with ``scenario.tokens``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from apiwatch.model import ApiwatchError, plural
from apiwatch.simulate.formats import event_id
from apiwatch.simulate.records import LOGIN_PATH, RESET_PATH, Request
from apiwatch.simulate.scenario import Scenario

if TYPE_CHECKING:
    import httpx

__all__ = ["ReplayError", "ReplayResult", "replay"]

_GIVE_UP_AFTER = 20  # consecutive transport errors: the app is not there


class ReplayError(ApiwatchError):
    """The app could not be reached (many requests in a row failed to get any answer)."""


@dataclass(slots=True)
class ReplayResult:
    """What happened: requests sent, answers by status, answers that differ from the
    simulation's status, and requests that got no answer at all."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    mismatched: int = 0
    errors: int = 0
    seconds: float = 0.0


def _numbered(scenario: Scenario | Iterable[Request]) -> Iterator[tuple[str | None, Request]]:
    if isinstance(scenario, Scenario):
        seed = scenario.config.seed
        for index, request in enumerate(scenario.requests):
            if request.service == "shop":
                yield event_id(seed, index), request
    else:
        for request in scenario:
            if request.service == "shop":
                yield None, request


def _headers(request: Request, request_id: str | None) -> dict[str, str]:
    headers = {"X-Forwarded-For": request.ip, "User-Agent": request.user_agent}
    if request.token:
        headers["Authorization"] = f"Bearer {request.token}"
    if request.referer != "-":
        headers["Referer"] = request.referer
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


def _body(request: Request) -> dict[str, str] | None:
    if request.method != "POST" or request.user is None:
        return None
    if request.path == LOGIN_PATH:
        return {"username": request.user, "password": request.password or ""}
    if request.path == RESET_PATH:
        return {"username": request.user}
    return None


def replay(
    scenario: Scenario | Iterable[Request],
    base_url: str,
    *,
    speed: float | None = None,
    client: httpx.Client | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Send the shop's requests in order to ``base_url``; the billing service's are skipped.

    ``speed=None`` sends as fast as the app answers; ``speed=1`` keeps the scenario's pace,
    ``speed=60`` plays an hour in a minute. ``limit`` stops after that many requests. A given
    ``client`` is used as is (and not closed). Raises `ReplayError` when 20 requests in a row
    get no answer.
    """
    import httpx  # noqa: PLC0415 - the generator itself needs no HTTP client

    if speed is not None and speed <= 0:
        raise ValueError("speed: expected a positive number or None")
    own = client is None
    http = client or httpx.Client(timeout=30)
    prefix = httpx.URL(base_url).raw_path.rstrip(b"/")
    base = base_url.rstrip("/")
    result = ReplayResult()
    began = time.monotonic()
    first: int | None = None
    failures = 0
    try:
        for request_id, request in islice(_numbered(scenario), limit):
            if speed is not None:
                first = request.time_us if first is None else first
                delay = began + (request.time_us - first) / 1e6 / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            options: dict[str, Any] = {"headers": _headers(request, request_id)}
            body = _body(request)
            if body is not None:
                options["json"] = body
            try:
                target = prefix + request.target.encode()
                response = http.request(
                    request.method, base + "/", **options, extensions={"target": target}
                )
            except httpx.HTTPError as exc:
                result.errors += 1
                failures += 1
                if failures >= _GIVE_UP_AFTER:
                    raise ReplayError(
                        f"{base_url} did not answer {plural(failures, 'request')} in a row ({exc})"
                    ) from None
            else:
                failures = 0
                result.sent += 1
                result.statuses[response.status_code] += 1
                result.mismatched += response.status_code != request.status
            if progress:
                progress(1)
    finally:
        result.seconds = time.monotonic() - began
        if own:
            http.close()
    return result
