"""A running collector with its console, over a real store, with one console user per role.

`ConsoleSite.login` signs in over HTTP exactly as a browser does (login form, its CSRF cookie,
the session cookie); the browser tests (`test_browser.py`) drive Chromium against the same site.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from apiwatch.server import ServerSettings, create_app
from apiwatch.server.console._passwords import hash_password
from apiwatch.store import ROLES, ConsoleUser, SqlStore
from tests.server.conftest import StoreFactory, add_keys, make_store, served

__all__ = ["PASSWORD", "ConsoleSite", "add_users", "csrf_of", "make_store", "site"]

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleSite:
    """A running collector: URL, store, API keys; console users ``viewer``, ``analyst``,
    ``admin`` (each with its role) share `PASSWORD`."""

    url: str
    store: SqlStore
    keys: dict[str, str] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """A client without a session (closed when the test ends)."""
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def login(self, user: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
        """A client signed in as ``user`` and the session's CSRF token."""
        client = self.client()
        response = self.attempt(client, user, password)
        assert response.status_code == 303, response.text
        page = client.get("/")
        assert page.status_code == 200, page.text
        return client, csrf_of(page.text)

    def attempt(self, client: httpx.Client, user: str, password: str) -> httpx.Response:
        form = client.get("/login")
        return client.post("/login", data={"csrf": csrf_of(form.text), "username": user,
                                           "password": password})  # fmt: skip


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def add_users(store: SqlStore) -> None:
    hashed = hash_password(PASSWORD)
    for role in ROLES:
        store.console.add_user(ConsoleUser(role, role, hashed, datetime.now(UTC)))


@pytest.fixture
def site(make_store: StoreFactory) -> Iterator[ConsoleSite]:
    """A collector (live detection on; SQLite, and PostgreSQL) with console users and keys."""
    store = make_store()
    keys = add_keys(store)
    keys["bouncer"] = store.keys.create("bouncer", ["bouncer"])[1]
    add_users(store)
    with served(create_app(store, ServerSettings())) as url:  # make_store closes the store
        running = ConsoleSite(url, store, keys)
        try:
            yield running
        finally:
            running.close()
