"""`Traffic`: builds the shop's requests with plausible answers (status, size, duration).

One `Traffic` per actor: it stamps its requests with the actor's origin and draws sizes and
durations from the actor's generator, so each actor's requests depend on nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import quote_plus

from apiwatch.simulate._vocab import SEARCHES
from apiwatch.simulate.records import LOGIN_PATH, RESET_PATH, Request

__all__ = ["ORDER", "PROFILE", "SECOND", "ObjectRoute", "Traffic"]

SECOND = 1_000_000  # microseconds
MINUTE = 60 * SECOND

# Sizes of the JSON error bodies the shop answers with, by status.
_ERROR_SIZES = {400: 41, 401: 36, 403: 32, 404: 22, 500: 34}


@dataclass(frozen=True, slots=True)
class ObjectRoute:
    """A shop route that answers one object by id: its template and the sizes of its answers."""

    template: str
    sizes: tuple[int, int] = (300, 1400)

    def path(self, object_id: int) -> str:
        """The template with ``{id}`` filled in."""
        return self.template.replace("{id}", str(object_id))


ORDER = ObjectRoute("/orders/{id}")
PROFILE = ObjectRoute("/users/{id}/profile", sizes=(280, 720))


class Traffic:
    """Appends requests from one actor (``origin``) to `requests`."""

    def __init__(self, origin: str, rng: random.Random) -> None:
        self.origin = origin
        self.rng = rng
        self.requests: list[Request] = []

    def _add(self, request: Request) -> Request:
        self.requests.append(request)
        return request

    def _duration(self, low_ms: float, high_ms: float) -> int:
        return int(self.rng.uniform(low_ms, high_ms) * 1000)

    def _size(self, status: int, low: int, high: int) -> int:
        if status >= 400:
            return _ERROR_SIZES.get(status, 30)
        return self.rng.randint(low, high)

    def login(
        self,
        t: int,
        ip: str,
        agent: str,
        account: str,
        password: str,
        *,
        ok: bool,
        referer: str = "-",
        tool: str | None = None,
    ) -> Request:
        """``POST /users/login``: 200 with a token, or 401 (password hashing makes both slow)."""
        status = 200 if ok else 401
        return self._add(
            Request(
                time_us=t,
                ip=ip,
                method="POST",
                path=LOGIN_PATH,
                status=status,
                size=self._size(status, 180, 240),
                user_agent=agent,
                origin=self.origin,
                duration_us=self._duration(90, 260),
                referer=referer,
                route=LOGIN_PATH,
                user=account,
                password=password,
                tool=tool,
            )
        )

    def reset(self, t: int, ip: str, agent: str, account: str, *, referer: str = "-") -> Request:
        """``POST /users/password-reset``: 200, a reset mail sent."""
        return self._add(
            Request(
                time_us=t,
                ip=ip,
                method="POST",
                path=RESET_PATH,
                status=200,
                size=48,
                user_agent=agent,
                origin=self.origin,
                duration_us=self._duration(20, 90),
                referer=referer,
                route=RESET_PATH,
                user=account,
            )
        )

    def get(
        self,
        t: int,
        ip: str,
        agent: str,
        path: str,
        *,
        status: int = 200,
        route: str | None = None,
        query: str = "",
        token: str | None = None,
        user: str | None = None,
        referer: str = "-",
        tool: str | None = None,
        sizes: tuple[int, int] = (300, 1400),
    ) -> Request:
        """A GET; 404s without a ``route`` are paths the shop does not have (answered fast)."""
        slow = route is not None and status < 400
        return self._add(
            Request(
                time_us=t,
                ip=ip,
                method="GET",
                path=path,
                status=status,
                size=self._size(status, *sizes),
                user_agent=agent,
                origin=self.origin,
                duration_us=self._duration(6, 70) if slow else self._duration(0.8, 5),
                query=query,
                referer=referer,
                route=route,
                user=user,
                token=token,
                tool=tool,
            )
        )

    # -- the shop's routes -------------------------------------------------------------------

    def search(
        self,
        t: int,
        ip: str,
        agent: str,
        *,
        token: str | None = None,
        user: str | None = None,
        referer: str = "-",
    ) -> Request:
        """``GET /products?q=<search>`` (sometimes a later page)."""
        query = "q=" + quote_plus(self.rng.choice(SEARCHES))
        if self.rng.random() < 0.2:
            query += f"&page={self.rng.randint(2, 5)}"
        return self.get(
            t,
            ip,
            agent,
            "/products",
            route="/products",
            query=query,
            token=token,
            user=user,
            referer=referer,
            sizes=(900, 9000),
        )

    def read(
        self,
        route: ObjectRoute,
        t: int,
        ip: str,
        agent: str,
        object_id: int,
        *,
        status: int = 200,
        token: str | None = None,
        user: str | None = None,
        referer: str = "-",
    ) -> Request:
        """``GET`` one object by id on ``route`` (`ORDER`: ``/orders/{id}``, `PROFILE`)."""
        return self.get(
            t,
            ip,
            agent,
            route.path(object_id),
            status=status,
            route=route.template,
            token=token,
            user=user,
            referer=referer,
            sizes=route.sizes,
        )

    def health(self, t: int, ip: str, agent: str) -> Request:
        """``GET /health``: tiny and fast."""
        return self.get(t, ip, agent, "/health", route="/health", sizes=(15, 15))
