"""GeoIP and ASN lookups from MaxMind-format databases the user supplies (``.mmdb``).

`GeoIP` opens one or more databases — a country or city database (GeoLite2-Country,
GeoLite2-City, DB-IP's, IPinfo's in MaxMind format) and an ASN database (GeoLite2-ASN) — and
answers ``(country ISO code, autonomous system number)`` for an address, from whichever database
knows it (the first one that does, in the order given). The detection engine asks it only for
the addresses of successful logins whose events carry no ``source.geo``/``source.as`` already,
so a lookup per login, cached.

Needs the ``maxminddb`` package (``pip install 'apiwatch[geoip]'``); apiwatch ships no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from apiwatch.model import ConfigError

__all__ = ["GeoIP"]

_CACHE: Final = 65_536


class GeoIP:
    """``geoip(ip) -> (country, asn)`` over the databases at ``paths`` (see the module)."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        try:
            import maxminddb  # noqa: PLC0415 - an optional extra
        except ImportError:
            raise ConfigError(
                "geoip: the maxminddb package is not installed (pip install 'apiwatch[geoip]')"
            ) from None
        self.readers: list[Any] = []
        self.cache: dict[str, tuple[str | None, int | None]] = {}
        for path in paths:
            try:
                self.readers.append(maxminddb.open_database(str(path), maxminddb.MODE_MMAP))
            except FileNotFoundError:
                raise ConfigError(f"geoip: {path}: no such file") from None
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                raise ConfigError(f"geoip: {path}: not a MaxMind database ({exc})") from None
        if not self.readers:
            raise ConfigError("geoip: give at least one .mmdb database")

    def __call__(self, ip: str) -> tuple[str | None, int | None]:
        found = self.cache.get(ip)
        if found is None:
            found = self._lookup(ip)
            if len(self.cache) >= _CACHE:
                self.cache.clear()
            self.cache[ip] = found
        return found

    def _lookup(self, ip: str) -> tuple[str | None, int | None]:
        country: str | None = None
        asn: int | None = None
        for reader in self.readers:
            try:
                record = reader.get(ip)
            except ValueError:  # not an address, or IPv6 in an IPv4-only database
                continue
            if not isinstance(record, dict):
                continue
            country = country or _country(record)
            number = record.get("autonomous_system_number")
            if asn is None and isinstance(number, int):
                asn = number
        return country, asn

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


def _country(record: dict[str, Any]) -> str | None:
    for key in ("country", "registered_country"):
        node = record.get(key)
        if isinstance(node, dict) and isinstance(node.get("iso_code"), str):
            return str(node["iso_code"])
    code = record.get("country_code")  # DB-IP / IPinfo "lite" layouts
    return code if isinstance(code, str) else None
