"""The ingest limits and the trusted proxies of `apiwatch serve`: apiwatch.toml, APIWATCH_* and
flags, one-line errors for wrong values, and the limits reaching the running collector."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiwatch.cli._config import load_settings
from apiwatch.model import ConfigError
from apiwatch.server import ServerSettings
from tests.server.raw_http import read_answer, start_upload

from .test_serve_exposure import _ingest_key, serving

_NAMES = ("MAX_CONCURRENT_INGEST", "MAX_INGEST_PER_KEY", "BODY_READ_TIMEOUT",
          "BODY_TOTAL_TIMEOUT", "FORWARDED_ALLOW_IPS")  # fmt: skip


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in _NAMES:
        monkeypatch.delenv(f"APIWATCH_{name}", raising=False)


def test_defaults_trust_no_proxy_and_give_a_key_half_the_slots() -> None:
    """By default: 8 ingest slots, 4 per key, 10 s of silence and 120 s in all for a body, no
    trusted proxy."""
    settings = load_settings(None)
    assert (settings.max_concurrent_ingest, settings.max_ingest_per_key) == (8, None)
    assert (settings.body_read_timeout, settings.body_total_timeout) == (10.0, 120.0)
    assert settings.forwarded_allow_ips is None
    assert ServerSettings().ingest_share == 4


@pytest.mark.parametrize(
    ("slots", "per_key", "share"), [(8, None, 4), (1, None, 1), (3, None, 1), (4, 9, 4), (8, 2, 2)]
)
def test_a_keys_share_is_at_least_one_and_at_most_every_slot(
    slots: int, per_key: int | None, share: int
) -> None:
    """max_ingest_per_key defaults to half the slots (at least one) and is capped at all."""
    settings = ServerSettings(max_concurrent_ingest=slots, max_ingest_per_key=per_key)
    assert settings.ingest_share == share


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """apiwatch.toml sets the limits and proxies (a list is taken), APIWATCH_* overrides them,
    --forwarded-allow-ips overrides both."""
    (tmp_path / "apiwatch.toml").write_text(
        'max_concurrent_ingest = 16\nmax_ingest_per_key = 2\nbody_read_timeout = "5s"\n'
        'body_total_timeout = "1m"\nforwarded_allow_ips = ["10.0.0.5", "10.1.0.0/16"]\n'
    )
    from_file = load_settings(None)
    assert (from_file.max_concurrent_ingest, from_file.max_ingest_per_key) == (16, 2)
    assert (from_file.body_read_timeout, from_file.body_total_timeout) == (5.0, 60.0)
    assert from_file.forwarded_allow_ips == "10.0.0.5,10.1.0.0/16"
    monkeypatch.setenv("APIWATCH_BODY_READ_TIMEOUT", "2")
    monkeypatch.setenv("APIWATCH_FORWARDED_ALLOW_IPS", "::1")
    from_env = load_settings(None)
    assert (from_env.body_read_timeout, from_env.forwarded_allow_ips) == (2.0, "::1")
    assert load_settings(None, forwarded_allow_ips="*").forwarded_allow_ips == "*"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_ingest_per_key = 0", "max_ingest_per_key must be 1 or more"),
        ("max_concurrent_ingest = 0", "max_concurrent_ingest must be 1 or more"),
        ("body_read_timeout = 0", "body_read_timeout must be more than 0 seconds"),
        ('body_total_timeout = "soon"', "body_total_timeout must be a number of seconds"),
        ('forwarded_allow_ips = "proxy.lan"', "'proxy.lan' is not an address or network"),
    ],
)
def test_a_wrong_value_is_one_error_naming_file_and_key(
    tmp_path: Path, line: str, message: str
) -> None:
    """Each wrong limit or proxy is a ConfigError naming apiwatch.toml and saying why."""
    (tmp_path / "apiwatch.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=r"apiwatch\.toml") as refused:
        load_settings(None)
    assert message in str(refused.value)


def test_serve_cuts_off_a_stalled_upload_after_the_configured_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIWATCH_BODY_READ_TIMEOUT reaches the running collector: an upload silent for that
    long is answered 408 saying so."""
    secret = _ingest_key(tmp_path)
    monkeypatch.setenv("APIWATCH_BODY_READ_TIMEOUT", "0.5")
    keep = ("APIWATCH_BODY_READ_TIMEOUT",)
    with serving(tmp_path, keep_environment=keep) as (url, log), start_upload(url, secret) as sock:
        status, _, body = read_answer(sock)
    assert status == 408
    assert b"nothing for 0.5 s" in body
    assert "cut off: the body stopped arriving" in log.read_text()
