"""Where a live source is: a small JSON file per source, replaced atomically.

Written after each durable commit (never before: a crash between the two re-reads lines, whose
stable ids make the store drop them, rather than lose them). The file is written to a temporary
name, fsynced and renamed over the old one, so a crash leaves the old or the new state, never
half of one. A file that cannot be read as a state is refused with a message naming it: the
user decides (delete it to start over) rather than apiwatch silently re-reading everything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from apiwatch.model import ConfigError

__all__ = ["Positions"]

_VERSION = 1


class Positions:
    """The saved state of one source at ``path`` (a JSON object; `load` gives {} at first)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the source's state ({exc})") from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ConfigError(
                f"{self.path}: not a source state apiwatch wrote (delete it to read the "
                "source from the start again)"
            )
        state = data.get("state")
        return state if isinstance(state, dict) else {}

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        body = json.dumps({"version": _VERSION, "state": state}, separators=(",", ":"))
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body.encode("utf-8", "surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
