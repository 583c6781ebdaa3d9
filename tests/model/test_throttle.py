"""`Throttle`: a repeated report goes out once per interval per kind, counting those held back."""

from __future__ import annotations

from apiwatch.model.throttle import Throttle


def test_the_first_report_goes_out_then_one_per_interval_with_the_held_back_count() -> None:
    """Within one interval only the first report passes; the next one says how many waited."""
    now = [100.0]
    throttle = Throttle(60, clock=lambda: now[0])
    assert [throttle() for _ in range(4)] == [0, None, None, None]
    now[0] = 159.9
    assert throttle() is None
    now[0] = 160.0
    assert throttle() == 4
    assert throttle() is None


def test_each_kind_has_its_own_interval() -> None:
    """A report of one kind does not hold back a report of another."""
    throttle = Throttle(60, clock=lambda: 0.0)
    assert (throttle("send"), throttle("spool"), throttle("send")) == (0, 0, None)
