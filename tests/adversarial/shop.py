"""The API under attack: a shop with accounts, orders and the routes real apps have.

`Shop` knows which accounts exist and what each request answers, and builds the `Request` records
exactly as nginx and the apiwatch sensor would see them: the sensor is configured with
``login_paths={"/api/v1/auth/login": "email", "/api/v1/auth/token": "username"}``; the mobile
endpoint ``/api/mobile/v2/session`` answers 200 to every login (the outcome is in the body) and
reports outcomes itself with ``audit.login_failed`` / ``audit.login_succeeded``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from tests.adversarial.records import Audit, Request

__all__ = ["LOGIN", "MOBILE_LOGIN", "SSO_LOGIN", "Account", "Client", "Shop", "route_of"]

LOGIN = "/api/v1/auth/login"
MOBILE_LOGIN = "/api/mobile/v2/session"
SSO_LOGIN = "/api/v1/auth/token"
_SITE = "https://shop.example.com"


@dataclass(slots=True)
class Account:
    """A customer account: its e-mail, numeric id and the ids of its own orders."""

    email: str
    uid: int
    orders: list[int] = field(default_factory=list)


class Shop:
    """Accounts and routes of the shop; every method returns the `Request` nginx would log."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.accounts: dict[str, Account] = {}
        self.by_uid: dict[int, Account] = {}
        self._last = {
            "user": rng.randint(100_000, 300_000),
            "order": rng.randint(4_000_000, 6_000_000),
        }

    def open_account(self, email: str, orders: int | None = None) -> Account:
        """A new account (or the existing one of that e-mail) with some past orders."""
        if email in self.accounts:
            return self.accounts[email]
        account = Account(email, self._next("user"))
        count = self.rng.choice((0, 1, 2, 3, 5, 8, 12)) if orders is None else orders
        account.orders = [self._next("order") for _ in range(count)]
        self.accounts[email] = account
        self.by_uid[account.uid] = account
        return account

    def _next(self, kind: str) -> int:
        """The next id of a sequence with gaps (deleted rows), as databases hand them out."""
        self._last[kind] += self.rng.choice((1, 1, 1, 2, 3))
        return self._last[kind]

    def token(self) -> str:
        """A fresh opaque session or API token."""
        return f"{self.rng.getrandbits(128):032x}"

    # -- logins -----------------------------------------------------------------------------

    def login(
        self,
        at: float,
        ip: str,
        agent: str,
        email: str,
        ok: bool,
        scenario: str,
        path: str = LOGIN,
    ) -> Request:
        """A JSON login: 200 with a token, 401 for a wrong password or unknown account."""
        ok = ok and email in self.accounts
        return Request(
            at,
            ip,
            "POST",
            path,
            200 if ok else 401,
            agent,
            scenario,
            route=path,
            action="authn_login_success" if ok else "authn_login_fail",
            user=email,
            body_bytes=self.rng.randint(380, 420) if ok else 61,
            referer=f"{_SITE}/login" if agent.startswith("Mozilla") else "-",
        )

    def mobile_login(
        self, at: float, ip: str, agent: str, email: str, ok: bool, scenario: str
    ) -> Request:
        """The mobile endpoint: 200 whatever happened, ``{"ok": false}`` in the body when it
        failed; the app reports the outcome through the audit API."""
        ok = ok and email in self.accounts
        audit = Audit(
            "authn_login_success" if ok else "authn_login_fail",
            email,
            "success" if ok else "failure",
            None if ok else "invalid credentials",
        )
        return Request(
            at,
            ip,
            "POST",
            MOBILE_LOGIN,
            200,
            agent,
            scenario,
            route=MOBILE_LOGIN,
            body_bytes=self.rng.randint(640, 700) if ok else 38,
            audit=(audit,),
        )

    def logout(self, at: float, ip: str, agent: str, email: str, session: str, sc: str) -> Request:
        """The session ends: 204, and the app's ``session_expired`` (reason logout)."""
        account = self.accounts[email]
        return Request(
            at,
            ip,
            "POST",
            "/api/v1/auth/logout",
            204,
            agent,
            sc,
            route="/api/v1/auth/logout",
            user=email,
            user_id=str(account.uid),
            session=session,
            audit=(Audit("session_expired", email, "success", "logout"),),
        )

    # -- password reset ---------------------------------------------------------------------

    def forgot(self, at: float, ip: str, agent: str, email: str, scenario: str) -> Request:
        """A reset request. The shop leaks which accounts exist: 202 for a known e-mail, 404
        ``{"error": "no account with that e-mail"}`` for an unknown one; the handler names the
        account on the request (``audit.identify``)."""
        known = email in self.accounts
        return Request(
            at,
            ip,
            "POST",
            "/api/v1/password/forgot",
            202 if known else 404,
            agent,
            scenario,
            route="/api/v1/password/forgot",
            user=email,
            body_bytes=52 if known else 41,
            referer=f"{_SITE}/forgot-password" if agent.startswith("Mozilla") else "-",
        )

    def reset(self, at: float, ip: str, agent: str, email: str, scenario: str) -> Request:
        """The reset link used: a new password is set (204 and ``authn_password_change``)."""
        return Request(
            at,
            ip,
            "POST",
            "/api/v1/password/reset",
            204,
            agent,
            scenario,
            route="/api/v1/password/reset",
            user=email,
            user_id=str(self.accounts[email].uid),
            audit=(Audit("authn_password_change", email, "success", "password reset"),),
        )

    # -- authenticated reads and writes -----------------------------------------------------

    def call(self, client: Client, at: float, method: str, path: str, **options: Any) -> Request:
        """Any other request from ``client``, authenticated by its cookie or bearer token.

        ``options``: ``status`` (200), ``query`` (""), ``audit`` (the app's own events)."""
        status: int = options.get("status", 200)
        account = client.account
        return Request(
            at, client.ip, method, path, status, client.agent, client.scenario,
            query=options.get("query", ""), route=route_of(path),
            action="authz_fail" if status == 403 else "http_request",
            user=account.email if account else None,
            user_id=str(account.uid) if account else None,
            token=client.token, session=client.session,
            body_bytes=self.rng.randint(200, 9000) if status < 300 else self.rng.randint(0, 90),
            referer=f"{_SITE}/" if client.agent.startswith("Mozilla") and method == "GET" else "-",
            audit=options.get("audit", ()),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Client:
    """Who sends requests: an address, a user agent, the scenario they belong to and, when
    signed in, the account and its cookie (``session``) or bearer ``token``."""

    shop: Shop
    ip: str
    agent: str
    scenario: str
    account: Account | None = None
    token: str | None = None
    session: str | None = None

    def get(self, at: float, path: str, **options: Any) -> Request:
        """A GET of ``path`` (options as `Shop.call`)."""
        return self.shop.call(self, at, "GET", path, **options)

    def send(self, at: float, method: str, path: str, **options: Any) -> Request:
        """A request of any method (options as `Shop.call`)."""
        return self.shop.call(self, at, method, path, **options)


_ROUTES = [
    (re.compile(pattern), template)
    for pattern, template in (
        (r"/api/v1/users/\d+/orders", "/api/v1/users/{user_id}/orders"),
        (r"/api/v1/users/\d+/addresses", "/api/v1/users/{user_id}/addresses"),
        (r"/api/v1/users/\d+/payment-methods", "/api/v1/users/{user_id}/payment-methods"),
        (r"/api/v1/orders/\d+", "/api/v1/orders/{order_id}"),
        (r"/api/v1/products/\d+", "/api/v1/products/{sku}"),
        (r"/api/v1/(?:products|orders|cart/items|me|me/email|me/password)|/healthz", ""),
    )
]


def route_of(path: str) -> str | None:
    """The app's route template for ``path`` (``labels.route``); None when no route matched,
    as for a scanner's probe."""
    for pattern, template in _ROUTES:
        if pattern.fullmatch(path):
            return template or path
    return None
