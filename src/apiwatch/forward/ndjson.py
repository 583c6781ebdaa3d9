"""ECS NDJSON files for Filebeat, Elastic Agent or Vector to pick up: one document a line.

Each batch is appended and flushed to disk (``fsync``) before it counts as delivered. When the
file reaches ``max_bytes`` (100 MiB by default) it is renamed ``<path>.1`` (older ones move to
``.2`` ... up to ``keep``, 5 by default, the oldest deleted) and a new file is started: the
rename rotation the shippers follow by inode. The file is created ``0600``: logs are personal
data. A record delivered twice (after a crash between the write and the cursor save) appears
twice, with the same ``event.id``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from apiwatch.forward._base import ForwardError
from apiwatch.forward._records import Record
from apiwatch.forward.config import ForwardTarget

__all__ = ["NdjsonFileSink"]


class NdjsonFileSink:
    """Appends records to ``path`` as ECS NDJSON, rotating it by size."""

    def __init__(self, target: ForwardTarget) -> None:
        self.name = target.name
        self.path = Path(str(target.option("path")))
        self.max_bytes = max(1, int(target.option("max_bytes", 100 * 1024 * 1024)))
        self.keep = max(1, int(target.option("keep", 5)))

    def send(self, records: Sequence[Record]) -> int:
        data = b"".join(record.raw + b"\n" for record in records)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self._rotate()
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise ForwardError(f"{self.name}: {self.path}: {exc.strerror or exc}") from None
        return 0

    def _rotate(self) -> None:
        for number in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if number == self.keep:
                older.unlink(missing_ok=True)
            else:
                newer = self.path.with_name(f"{self.path.name}.{number + 1}")
                if older.exists():
                    older.rename(newer)
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        return None
