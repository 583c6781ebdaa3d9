"""The collector keeps its startup heap out of the cyclic collector's full collections."""

from __future__ import annotations

import gc

from apiwatch.server import ServerSettings
from tests.server.conftest import StoreFactory, collector_with


def test_startup_heap_is_frozen_while_serving_and_released_at_shutdown(
    make_store: StoreFactory,
) -> None:
    """While a collector runs, what existed at its startup is frozen (`gc.freeze`); once it has
    stopped nothing is left frozen, so a process that serves again (tests) leaks nothing."""
    assert gc.get_freeze_count() == 0
    with collector_with(make_store, ServerSettings()):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
