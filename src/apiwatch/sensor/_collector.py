"""What the sensor's two clients of the collector share (the shipper, which sends events, and
the decision sync, which pulls decisions): checking the collector's URL and the key, and TLS."""

from __future__ import annotations

import os
import re
import ssl

import httpx

from apiwatch.model import ConfigError

__all__ = ["check_key", "endpoint", "ssl_context"]

_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: safe in a header, no CR/LF injection


def endpoint(url: str, option: str, path: str) -> httpx.URL:
    """``{url}{path}`` for the collector at ``url``; ConfigError naming ``option`` for anything
    but an http(s) URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{option}: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{option}: give an http(s) URL, e.g. https://apiwatch.example:8470")
    return parsed.copy_with(path=parsed.path.rstrip("/") + path, query=None, fragment=None)


def check_key(key: str, message: str) -> str:
    """``key`` if it can go in a header as it is; else ConfigError(``message``)."""
    if not key or not _KEY_CHARS.fullmatch(key):
        raise ConfigError(message)
    return key


def ssl_context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """Verification always on: certifi's CAs (or $SSL_CERT_FILE), or only those of ``ca_file``."""
    if ca_file is None:
        return httpx.create_ssl_context()
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"ca_file: cannot load {os.fspath(ca_file)!r} ({exc})") from None
