"""API keys: the secret is shown once and stored only as a hash; authentication and revocation."""

from __future__ import annotations

import hashlib

import pytest

from apiwatch.model import ConfigError
from apiwatch.store import Keyring, SqlStore

from .helpers import Backend


def test_create_returns_the_secret_once_and_stores_only_its_hash(
    store: SqlStore, backend: Backend
) -> None:
    """The secret is returned by create_key, and the table holds its SHA-256, never the secret."""
    key, secret = store.keys.create("api-1", ["ingest"])
    assert (key.name, key.scopes, key.revoked_at) == ("api-1", frozenset({"ingest"}), None)
    assert secret.startswith(f"aw_{key.id}_")
    rows = backend.sql("SELECT * FROM api_keys")
    assert len(rows) == 1
    for value in rows[0]:
        raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        assert secret.encode() not in raw
        assert secret.split("_", 2)[2].encode() not in raw  # the random tail (it may hold "_")
    blobs = [bytes(v) for v in rows[0] if isinstance(v, bytes | memoryview)]
    assert hashlib.sha256(secret.encode()).digest() in blobs
    assert [k.name for k in store.keys.all()] == ["api-1"]


def test_authenticate_accepts_the_secret_and_nothing_else(store: SqlStore) -> None:
    """The secret authenticates; a wrong tail, another shape or garbage does not."""
    key, secret = store.keys.create("api-1", ["read", "ingest"])
    found = store.keys.authenticate(secret)
    assert found is not None
    assert (found.id, found.name, found.scopes) == (key.id, "api-1", frozenset({"read", "ingest"}))
    wrong_tail = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    tail = secret.split("_", 2)[2]
    rejected = [wrong_tail, "", "garbage", "aw_", f"aw_{key.id}", f"aw_{key.id}_"]
    nul_id = "\x00" * 12
    rejected += [f"aw_{nul_id}_{tail}", f"aw_{key.id.upper()}_{tail}", f"Bearer {secret}"]
    for presented in rejected:
        assert store.keys.authenticate(presented) is None, presented


def test_revoked_key_no_longer_authenticates(store: SqlStore) -> None:
    """Revoking by name or by id stops the key; revoking again or an unknown key is False."""
    _, secret_a = store.keys.create("api-a", ["ingest"])
    key_b, secret_b = store.keys.create("api-b", ["read"])
    assert store.keys.revoke("api-a") is True
    assert store.keys.revoke(key_b.id) is True
    assert store.keys.revoke("api-a") is False
    assert store.keys.revoke("nobody") is False
    assert store.keys.authenticate(secret_a) is None
    assert store.keys.authenticate(secret_b) is None
    listed = {k.name: k for k in store.keys.all()}
    assert listed["api-a"].revoked_at is not None
    assert not listed["api-a"].allows("ingest")


def test_duplicate_name_is_a_config_error(store: SqlStore) -> None:
    """A second key with an existing name is a ConfigError naming it; the first key still works."""
    _, secret = store.keys.create("api-1", ["ingest"])
    with pytest.raises(ConfigError, match="'api-1' already exists"):
        store.keys.create("api-1", ["read"])
    assert store.keys.authenticate(secret) is not None
    assert len(store.keys.all()) == 1


@pytest.mark.parametrize("scopes", [["root"], ["ingest", "write"], []])
def test_unknown_or_missing_scope_is_a_config_error(store: SqlStore, scopes: list[str]) -> None:
    """Scopes must come from SCOPES, and at least one is needed."""
    with pytest.raises(ConfigError, match="scope"):
        store.keys.create("api-1", scopes)
    assert store.keys.all() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\x00name", "tab\tname"])
def test_unusable_name_is_a_config_error(store: SqlStore, name: str) -> None:
    """Key names are short printable text."""
    with pytest.raises(ConfigError, match="name"):
        store.keys.create(name, ["ingest"])


def test_admin_scope_allows_everything(store: SqlStore) -> None:
    """An admin key is allowed every scope; an ingest key only ingest."""
    admin, _ = store.keys.create("root", ["admin"])
    ingest, _ = store.keys.create("edge", ["ingest"])
    assert all(admin.allows(scope) for scope in ("ingest", "read", "bouncer", "admin"))
    assert ingest.allows("ingest")
    assert not ingest.allows("read")


def test_a_key_bound_to_services_and_networks_keeps_its_binding(store: SqlStore) -> None:
    """create_key stores the services and networks (networks in canonical CIDR form); the key
    authenticated and listed carries them; a key without them is unbound."""
    key, secret = store.keys.create(
        "shop-sensor", ["ingest"], services=["shop", "api", "shop"],
        networks=["10.0.0.0/8", "2001:db8::1"],
    )  # fmt: skip
    assert key.services == frozenset({"shop", "api"})
    assert key.networks == ("10.0.0.0/8", "2001:db8::1/128")
    found = store.keys.authenticate(secret)
    assert found is not None and found.bound
    assert (found.services, found.networks) == (key.services, key.networks)
    (listed,) = store.keys.all()
    assert (listed.services, listed.networks) == (key.services, key.networks)
    plain, plain_secret = store.keys.create("plain", ["ingest"])
    authenticated = store.keys.authenticate(plain_secret)
    assert authenticated is not None and not authenticated.bound and not plain.bound


@pytest.mark.parametrize(
    ("services", "networks", "message"),
    [
        ([""], [], "service: '' is not a service name"),
        (["a,b"], [], "service: 'a,b' is not a service name"),
        ([], ["10.0.0.0/33"], "network: '10.0.0.0/33' is not a network"),
        ([], ["fe80::/64%eth0"], "network: 'fe80::/64%eth0' is not a network"),
    ],
)
def test_a_binding_that_is_not_one_is_a_config_error(
    store: SqlStore, services: list[str], networks: list[str], message: str
) -> None:
    """An empty or comma-holding service, or a network that is not one, is refused, naming it;
    no key is made."""
    with pytest.raises(ConfigError, match=message):
        store.keys.create("k", ["ingest"], services=services, networks=networks)
    assert store.keys.all() == []


def test_a_store_made_before_key_binding_gains_the_columns_and_keeps_its_keys(
    backend: Backend, keyring: Keyring
) -> None:
    """Opening a store whose api_keys table predates binding adds the columns; its keys still
    authenticate, unbound, and new keys can be bound."""
    first = backend.open(keyring)
    _, old_secret = first.keys.create("old", ["ingest"])
    first.close()
    backend.sql("ALTER TABLE api_keys DROP COLUMN services")
    backend.sql("ALTER TABLE api_keys DROP COLUMN networks")
    reopened = backend.open(keyring)
    try:
        old = reopened.keys.authenticate(old_secret)
        assert old is not None and old.name == "old" and not old.bound
        _, secret = reopened.keys.create("new", ["ingest"], services=["shop"])
        found = reopened.keys.authenticate(secret)
        assert found is not None and found.services == frozenset({"shop"})
    finally:
        reopened.close()
