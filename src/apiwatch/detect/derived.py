"""Fields apiwatch derives for the account-abuse rules (enumeration, takeover, scraping, IPv6).

`add_derived` completes the values `to_record` flattened from an event:

- ``apiwatch.net64``: the /64 an IPv6 source belongs to (absent for IPv4: one IPv4 address is
  what a per-source rule already groups by, while an IPv6 host may rotate inside its /64);
- ``apiwatch.flow``: ``reset`` or ``signup`` for a request to an account-recovery or registration
  route (``/password-reset``, ``/forgot-password``, ``/signup``, ``/register``, ``/users/exists``,
  ...), judged from the route's words;
- ``apiwatch.unknown_user``: true when the app said the account does not exist: ``event.reason``
  ``unknown_user`` (or ``user_not_found``, ``no_such_user``, ``unknown_account``,
  ``invalid_user``), or a 404 answer on a reset or sign-up route. The engine also sets it on a
  failed login answered much faster than logins that checked a password (`timing`);
- ``apiwatch.account_change``: ``password``, ``email`` or ``mfa`` for a change the account
  accepted: ``authn_password_change`` (not a reset through the mailed link, which proves the
  mailbox), ``user_updated`` whose reason names one, or a 2xx write to a route naming it
  (``/account/email``, ``/mfa``, ``/2fa``, ``/totp``, ``/password`` ...);
- ``apiwatch.owner_id``: the owner an object route names (``/users/{id}/orders`` gives the id
  after ``users``), else ECS ``user.target.id``; ``apiwatch.foreign``: true when that owner is
  neither the caller's ``user.id`` nor its ``user.name``;
- ``apiwatch.page_offset``: how deep a list request reads: ``offset``, or ``(page - 1) *``
  the page size (``limit``, ``per_page``, ``page_size``, ``size``; 20 when not given);
- from ECS fields beyond apiwatch's model: ``user.target.id``, ``user.target.name``,
  ``source.geo.country_iso_code``, ``source.as.number``.

Each costs a dict lookup for an event it does not concern: route words are judged once per route
(cached), the query only when it names a page.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, Final

from apiwatch.model import unmapped

__all__ = [
    "DERIVED_FIELDS",
    "UNKNOWN_USER_REASONS",
    "RouteFacts",
    "add_derived",
    "derive",
    "net64",
    "route_facts",
]

DERIVED_FIELDS: Final = frozenset(
    {
        "apiwatch.net64",
        "apiwatch.flow",
        "apiwatch.unknown_user",
        "apiwatch.account_change",
        "apiwatch.owner_id",
        "apiwatch.foreign",
        "apiwatch.page_offset",
        "apiwatch.new_origin",
        "user.target.id",
        "user.target.name",
        "source.geo.country_iso_code",
        "source.as.number",
    }
)
"""Every field this module (and the engine's account profiles) may set."""

UNKNOWN_USER_REASONS: Final = frozenset(
    {"unknown_user", "user_not_found", "no_such_user", "unknown_account", "invalid_user"}
)

_RESET_WORDS: Final = (
    *("password-reset", "password_reset", "reset-password", "reset_password", "forgot"),
    *("password/reset", "recover", "passwordreset", "lost-password"),
)
_SIGNUP_WORDS: Final = (
    *("signup", "sign-up", "sign_up", "register", "registration", "check-email"),
    *("check-username", "users/exists", "email-available", "username-available"),
)
_CHANGE_WORDS: Final = (
    *(("mfa", "mfa"), ("2fa", "mfa"), ("totp", "mfa"), ("otp", "mfa"), ("two-factor", "mfa")),
    *(("email", "email"), ("e-mail", "email"), ("password", "password")),
)
_OWNER_WORDS: Final = frozenset(
    {*("users", "user", "accounts", "account", "customers", "customer", "members"),
     *("profiles", "partners", "partner", "tenants", "organizations", "orgs")}
)  # fmt: skip
_WRITES: Final = frozenset({"POST", "PUT", "PATCH"})
_SIZE_KEYS: Final = ("limit", "per_page", "page_size", "pagesize", "size")
_DEFAULT_PAGE_SIZE: Final = 20


@lru_cache(maxsize=65536)
def net64(ip: str) -> str | None:
    """The /64 of an IPv6 address (None for IPv4 and non-addresses)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if unmapped(address).version != 6:
        return None
    return str(ipaddress.IPv6Network(f"{address}/64", strict=False))


RouteFacts = tuple[str | None, str | None, int]
_NO_FACTS: Final[RouteFacts] = (None, None, -1)


@lru_cache(maxsize=16384)
def route_facts(route: str) -> RouteFacts:
    """(flow, account change kind, index of the owner placeholder or -1) of a route; the one
    `_NO_FACTS` tuple for the many routes that have none."""
    low = route.lower()
    flow = None
    if any(word in low for word in _RESET_WORDS):
        flow = "reset"
    elif any(word in low for word in _SIGNUP_WORDS):
        flow = "signup"
    change = None
    if flow is None and "login" not in low:
        change = next((kind for word, kind in _CHANGE_WORDS if word in low), None)
    parts = low.split("/")
    owner = -1
    for index in range(len(parts) - 1):
        after = parts[index + 1]
        if parts[index] in _OWNER_WORDS and after.startswith("{") and after.endswith("}"):
            owner = index + 1
            break
    facts = (flow, change, owner)
    return _NO_FACTS if facts == _NO_FACTS else facts


def _count(text: str | None) -> int | None:
    """A query parameter's whole number: ASCII digits, at most twelve of them (the client
    writes the query: no superscript digits, no 5,000-digit number for ``int`` to refuse)."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def _page_offset(query: str) -> int | None:
    """How deep a list request reads (see the module docstring), from its query."""
    params: dict[str, str] = {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        params[key.lower()] = value
    offset = _count(params.get("offset"))
    if offset is not None:
        return offset
    page = _count(params.get("page") or params.get("page_number"))
    if page is None:
        return None
    size = next((n for k in _SIZE_KEYS if (n := _count(params.get(k))) is not None), None)
    return max(page - 1, 0) * (size if size is not None else _DEFAULT_PAGE_SIZE)


def _extra(extra: dict[str, Any], *keys: str) -> Any:
    node: Any = extra
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def add_derived(values: dict[str, Any], extra: dict[str, Any] | None) -> None:
    """Add the fields of the module docstring to ``values`` (a record being built)."""
    route = values.get("apiwatch.route")
    derive(
        values,
        values.get("source.ip"),
        values.get("event.reason"),
        route_facts(route) if route is not None else None,
        values.get("event.action"),
        values.get("url.query"),
        extra,
    )


def derive(  # noqa: PLR0917 - the fields `to_record` already holds, not read again
    values: dict[str, Any],
    ip: str | None,
    reason: str | None,
    facts: RouteFacts | None,
    action: str | None,
    query: str | None,
    extra: dict[str, Any] | None,
) -> None:
    """`add_derived` given the fields it reads (``values`` holds the same ones; ``facts``
    are the `route_facts` of the route, None without one)."""
    if ip is not None and ":" in ip:
        values["apiwatch.net64"] = net64(ip)
    if extra:
        _from_extra(values, extra)
    if reason is not None and reason.lower() in UNKNOWN_USER_REASONS:
        values["apiwatch.unknown_user"] = True
    if facts is not None and (facts is not _NO_FACTS or "user.target.id" in values):
        _from_route(values, facts)
    if action == "authn_password_change":
        # A reset through the mailed link proves the mailbox: the owner's own recovery, not a
        # change made from a session someone else may have opened.
        if values.get("apiwatch.flow") != "reset" and "reset" not in (reason or "").lower():
            values["apiwatch.account_change"] = "password"
    elif action == "user_updated" and reason is not None:
        values["apiwatch.account_change"] = _changed(reason.lower())
    if query is not None and ("page" in query or "offset" in query):
        values["apiwatch.page_offset"] = _page_offset(query)


def _changed(reason: str) -> str | None:
    """What a ``user_updated`` event's reason says was changed (None: nothing we watch)."""
    return next((kind for word, kind in _CHANGE_WORDS if word in reason), None)


def _from_extra(values: dict[str, Any], extra: dict[str, Any]) -> None:
    target = _extra(extra, "user", "target")
    if isinstance(target, dict):
        for key in ("id", "name"):
            value = target.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                values[f"user.target.{key}"] = str(value)
    country = _extra(extra, "source", "geo", "country_iso_code")
    if isinstance(country, str):
        values["source.geo.country_iso_code"] = country
    number = _extra(extra, "source", "as", "number")
    if isinstance(number, int) and not isinstance(number, bool):
        values["source.as.number"] = number


def _from_route(values: dict[str, Any], facts: RouteFacts) -> None:
    flow, change, owner_slot = facts
    status = values.get("http.response.status_code")
    if flow is not None:
        values["apiwatch.flow"] = flow
        if status == 404:
            values["apiwatch.unknown_user"] = True
    elif (
        change is not None
        and values.get("http.request.method") in _WRITES
        and isinstance(status, int)
        and 200 <= status < 300
    ):
        values.setdefault("apiwatch.account_change", change)
    owner = values.get("user.target.id")
    if owner_slot >= 0:
        path = values.get("url.path") or ""
        parts = path.split("/")
        if len(parts) > owner_slot and parts[owner_slot]:
            owner = parts[owner_slot]
    if owner is None:
        return
    values["apiwatch.owner_id"] = owner
    caller = values.get("user.id"), values.get("user.name")
    if caller != (None, None) and owner not in caller:
        values["apiwatch.foreign"] = True
