"""`write_scenario`: ``access.log``, ``events.ndjson`` and ``truth.json`` in one directory.

Files are written under temporary names and renamed into place at the end, so a directory never
holds a half-written scenario next to a finished truth.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple, TypeVar

from apiwatch.simulate.config import ScenarioConfig
from apiwatch.simulate.scenario import Scenario, generate

__all__ = ["ACCESS_LOG", "EVENTS", "TRUTH", "ScenarioPaths", "write_scenario"]

ACCESS_LOG = "access.log"
EVENTS = "events.ndjson"
TRUTH = "truth.json"

Progress = Callable[[int], None]
"""Called with the number of lines just written (to either file): for a progress bar."""

_CHUNK = 8192
T = TypeVar("T")


class ScenarioPaths(NamedTuple):
    """Where `write_scenario` put each output."""

    access_log: Path
    events: Path
    truth: Path


def _chunks(lines: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(lines)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


def write_scenario(
    scenario: ScenarioConfig | Scenario | None,
    outdir: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> ScenarioPaths:
    """Generate (unless given a `Scenario`) and write the three outputs into ``outdir``.

    ``access.log`` holds the shop's requests in nginx ``combined`` format, ``events.ndjson`` every
    event (the shop's and the billing service's) as ECS NDJSON, both in time order; ``truth.json``
    the `GroundTruth`. ``progress`` gets the number of lines written, chunk by chunk (the total is
    ``truth.counts["shop_requests"] + truth.counts["ecs_events"]``).
    """
    if not isinstance(scenario, Scenario):
        scenario = generate(scenario)
    directory = Path(outdir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = ScenarioPaths(directory / ACCESS_LOG, directory / EVENTS, directory / TRUTH)
    report = progress or (lambda _count: None)
    staged = [path.with_name(f".{path.name}.part") for path in paths]
    with staged[0].open("w", encoding="utf-8", newline="\n") as log:
        for text_chunk in _chunks(scenario.nginx_lines()):
            log.write("\n".join(text_chunk) + "\n")
            report(len(text_chunk))
    with staged[1].open("wb") as events:
        for byte_chunk in _chunks(scenario.ecs_lines()):
            events.write(b"\n".join(byte_chunk) + b"\n")
            report(len(byte_chunk))
    staged[2].write_bytes(scenario.truth.to_json())
    for part, final in zip(staged, paths, strict=True):
        part.replace(final)
    return paths
