"""Refusing secret files that other users can read: the store's key file and a TLS private key.

`check_private_file` is the one check; it is called where the key file is loaded
(`apiwatch.store.crypto.Keyring.load`) and by ``apiwatch serve`` for ``--tls-key``. A file that
group or others may read is a `ConfigError` whose one line says the ``chmod`` to run; a directory
others may write to (without the sticky bit) only draws a warning, since whoever can write there
can swap the file for one of theirs, but refusing would break shared setups that are fine.
Permission bits mean nothing on Windows: there, nothing is checked.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from apiwatch.model import ConfigError

__all__ = ["check_private_file"]

logger = logging.getLogger("apiwatch.store")


def check_private_file(path: Path, what: str, *, group_may_read: bool = False) -> None:
    """`ConfigError` when ``path`` (``what``: "key file", "TLS key") is open to other users.

    ``group_may_read`` allows the group to read it (and nothing more), as Debian's ``ssl-cert``
    group reads TLS keys; the store's key file is its owner's alone.
    """
    if os.name == "nt":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading the file reports why it cannot be read
    allowed = 0o740 if group_may_read else 0o700
    if mode & ~allowed & 0o777:
        tighter = "640" if group_may_read else "600"
        raise ConfigError(
            f"{what} {path}: other users may read or change it (mode {mode:03o}); "
            f"run: chmod {tighter} {path}"
        )
    _warn_if_swappable(path.parent, what)


def _warn_if_swappable(directory: Path, what: str) -> None:
    try:
        mode = directory.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        logger.warning(
            "%s directory %s: other users may write to it (mode %03o), so they can replace the "
            "file; run: chmod go-w %s",
            what, directory, stat.S_IMODE(mode), directory,
        )  # fmt: skip
