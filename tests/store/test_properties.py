"""Random sequences of appends, duplicates, replays and expiry keep the store consistent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiwatch.model import decode_event
from apiwatch.store import EventFilter, SqlStore, StoredLine

from .conftest import KINDS, fresh_store
from .helpers import T0, batch, line

appends = st.tuples(
    st.just("append"),
    st.integers(0, 5),  # new events
    st.integers(0, 3),  # events sent before, sent again
    st.sampled_from([None, "retry-1", "retry-2"]),  # idempotency key
    st.integers(0, 10),  # day of the events
)
expiries = st.tuples(st.just("expire"), st.integers(0, 12))
operations = st.lists(st.one_of(appends, expiries), min_size=1, max_size=12)


def stored(store: SqlStore) -> set[str]:
    page = store.events.query(EventFilter(), cursor=None, limit=10_000)
    return {decode_event(raw).event.id for raw in page.lines}


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=operations)
def test_random_operations_keep_the_chain_and_counts(
    tmp_path: Path, kind: str, steps: list[tuple[object, ...]]
) -> None:
    """After any mix of appends, repeats, replays and expiry, verify passes and the store holds
    exactly the events a model of it predicts."""
    with fresh_store(kind, tmp_path) as (store, _):
        sent: list[StoredLine] = []
        present: dict[str, int] = {}  # event id -> day
        used_idem: set[str] = set()
        for step in steps:
            if step[0] == "append":
                _, new, repeats, idem, day = step
                assert isinstance(new, int) and isinstance(repeats, int) and isinstance(day, int)
                fresh = [line(at=T0 + timedelta(days=day, seconds=i)) for i in range(new)]
                again = sent[-repeats:] if repeats else []
                (result,) = store.events.append([batch([*fresh, *again], idem=idem)])  # type: ignore[arg-type]
                if idem in used_idem:
                    assert (result.replayed, result.stored) == (True, 0)
                    continue
                expected = {s.event.event.id: s for s in [*fresh, *again]}
                expected = {k: v for k, v in expected.items() if k not in present}
                assert result.stored == len(expected)
                for event_id, stored_line in expected.items():
                    present[event_id] = (stored_line.event.timestamp - T0).days
                sent += fresh
                if idem:
                    used_idem.add(str(idem))
            else:
                cutoff_day = step[1]
                assert isinstance(cutoff_day, int)
                deleted = store.events.expire(T0 + timedelta(days=cutoff_day))
                remaining = stored(store)
                assert remaining <= set(present)
                assert {k for k, d in present.items() if d >= cutoff_day} <= remaining
                assert all(present[k] < cutoff_day for k in set(present) - remaining)
                assert deleted == len(present) - len(remaining)
                present = {k: v for k, v in present.items() if k in remaining}
            assert store.events.count() == len(present)
        report = store.verify()
        assert (report.ok, report.records) == (True, len(present)), report.problem
        assert stored(store) == set(present)
