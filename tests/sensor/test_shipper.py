"""The shipper against a real local collector: delivery, order, spool, bounds, faults, TLS."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apiwatch.model import ConfigError, Event, EventMeta, encode_event
from apiwatch.sensor import shipper as shipper_module
from apiwatch.sensor.shipper import Shipper, default_spool_dir
from tests._wait import wait_until
from tests.tls_helpers import write_self_signed

from .collector_server import Collector

KEY = "test-key"
# Small batches, short timeouts and backoffs: the whole file runs in seconds.
FAST: dict[str, Any] = {
    "batch_size": 50,
    "flush_interval": 0.02,
    "timeout": 0.5,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
}

MakeShipper = Callable[..., Shipper]


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector(api_key=KEY) as server:
        yield server


@pytest.fixture
def down_collector() -> Iterator[Collector]:
    """A collector whose port is known but closed (it is down)."""
    server = Collector(api_key=KEY).start()
    server.stop()
    yield server
    server.stop()


@pytest.fixture
def make_shipper(tmp_path: Path) -> Iterator[MakeShipper]:
    made: list[Shipper] = []

    def make(url: str, spool_dir: Path | None = None, **options: Any) -> Shipper:
        options = {**FAST, "api_key": KEY, **options}
        shipper = Shipper(url, spool_dir=spool_dir or tmp_path / "spool", **options)
        made.append(shipper)
        return shipper

    yield make
    for shipper in made:
        shipper.close(timeout=1.0)


def ship(shipper: Shipper, count: int) -> list[str]:
    """Give `count` fresh events to the shipper; their ids in order."""
    ids = []
    for number in range(count):
        event = Event(event=EventMeta(action="http_request"), message=f"request {number}")
        shipper(event, encode_event(event))
        ids.append(event.event.id)
    return ids


def answered(collector: Collector, status: int) -> bool:
    """Whether the collector has answered a request with ``status``."""
    return any(received.status == status for received in list(collector.requests))


def resent(collector: Collector) -> bool:
    """Whether some event reached the collector twice."""
    ids = collector.event_ids()
    return len(ids) > len(set(ids))


def journal_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.ndjson"))


def spooled_ids(shipper: Shipper) -> list[str]:
    """The event ids in the shipper's journal not acknowledged yet, oldest first."""
    assert shipper.spool_path is not None
    acked = shipper.spool_path / "acked"
    seq, offset = map(int, acked.read_text().split()) if acked.exists() else (0, 0)
    ids = []
    for segment in sorted(shipper.spool_path.glob("*.ndjson")):
        number = int(segment.name[:20])
        if number >= seq:
            data = segment.read_bytes()[offset if number == seq else 0 :]
            ids += [line.split(b'"id":"', 1)[1][:32].decode() for line in data.splitlines()]
    return ids


# -- delivery --------------------------------------------------------------------------------------


def test_ships_gzip_ndjson_with_bearer_key_and_content_key(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """Batches arrive gzip'd with the bearer key and an Idempotency-Key = sha256 of the body."""
    shipper = make_shipper(collector.url)
    sent = ship(shipper, 120)
    assert shipper.flush(timeout=5)
    assert collector.event_ids() == sent
    assert len(collector.requests) == 3
    for request in collector.requests:
        assert request.headers["content-encoding"] == "gzip"
        assert request.headers["content-type"] == "application/x-ndjson"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["idempotency-key"] == request.body_sha256
    assert shipper.stats()["shipped"] == 120


def test_replayed_batch_carries_the_same_idempotency_key(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """A batch retried after a 500 is sent with the key it had the first time."""
    collector.mode = "500"
    shipper = make_shipper(collector.url)
    sent = ship(shipper, 5)
    assert wait_until(lambda: len(collector.requests) >= 2)
    collector.mode = "normal"
    assert shipper.flush(timeout=5)
    keys = {request.headers["idempotency-key"] for request in collector.requests}
    assert len(keys) == 1
    assert keys == {
        hashlib.sha256(b"".join(line + b"\n" for line in collector.accepted)).hexdigest()
    }
    assert collector.event_ids() == sent
    assert shipper.stats()["retries"] >= 1


def test_lines_the_collector_rejects_are_counted(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """Lines the collector lists as ``rejected`` count as rejected, the rest as shipped."""
    shipper = make_shipper(collector.url)
    ship(shipper, 3)
    shipper(Event(event=EventMeta(action="http_request")), b"not json")
    assert shipper.flush(timeout=5)
    stats = shipper.stats()
    assert (stats["shipped"], stats["rejected"]) == (3, 1)


def test_close_sends_what_is_queued(collector: Collector, make_shipper: MakeShipper) -> None:
    """close() delivers queued events that no timer has flushed yet."""
    shipper = make_shipper(collector.url, flush_interval=30.0, batch_size=1000)
    sent = ship(shipper, 30)
    shipper.close(timeout=5)
    assert collector.event_ids() == sent
    assert shipper.stats()["queued"] == 0
    assert shipper.spool_path is not None
    assert list(shipper.spool_path.iterdir()) == []  # all delivered: the slot is left empty


# -- faults ----------------------------------------------------------------------------------------


def test_every_event_arrives_once_in_order_across_down_slow_500_429(
    down_collector: Collector, make_shipper: MakeShipper
) -> None:
    """Through down, slow, 500 and 429 phases, each event arrives, first arrivals in sent order."""
    collector = down_collector
    collector.slow_delay = 0.6
    shipper = make_shipper(collector.url, timeout=0.3)
    sent = ship(shipper, 500)
    assert wait_until(lambda: shipper.stats()["send_failures"] > 0, 10), "no try while down"
    collector.mode = "slow"
    collector.start()
    sent += ship(shipper, 400)
    assert wait_until(lambda: resent(collector), 10), "no resend of a batch answered too late"
    collector.mode = "500"
    sent += ship(shipper, 400)
    assert wait_until(lambda: answered(collector, 500), 10), "no try while failing with 500"
    collector.mode = "429"
    sent += ship(shipper, 300)
    assert wait_until(lambda: answered(collector, 429), 10), "no try while failing with 429"
    collector.mode = "normal"
    sent += ship(shipper, 400)
    assert shipper.flush(timeout=10)

    assert collector.unique_event_ids() == sent
    assert len(collector.event_ids()) > len(sent)  # the slow phase made the shipper resend
    stats = shipper.stats()
    assert stats["shipped"] == 2000
    assert stats["dropped"] == 0
    assert stats["send_failures"] > 0
    assert stats["retries"] > 0
    assert stats["queued"] == 0


def test_401_keeps_events_until_the_key_is_accepted(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """A refused key keeps the events in the spool; they go out once the collector takes the key."""
    collector.api_key = "another-key"
    shipper = make_shipper(collector.url)
    sent = ship(shipper, 20)
    assert wait_until(lambda: shipper.stats()["send_failures"] >= 2)
    assert shipper.stats()["queued"] == 20
    assert collector.accepted == []
    collector.api_key = KEY
    assert shipper.flush(timeout=5)
    assert collector.event_ids() == sent
    assert shipper.stats()["dropped"] == 0


def test_400_drops_the_batch_and_counts_it(collector: Collector, make_shipper: MakeShipper) -> None:
    """A batch refused with 400 is dropped and counted, and does not block later batches."""
    collector.mode = "400"
    shipper = make_shipper(collector.url)
    ship(shipper, 10)
    assert shipper.flush(timeout=5)
    stats = shipper.stats()
    assert (stats["dropped"], stats["refused"], stats["shipped"]) == (10, 1, 0)
    collector.mode = "normal"
    later = ship(shipper, 5)
    assert shipper.flush(timeout=5)
    assert collector.event_ids() == later


def test_failures_are_logged_once_per_interval_without_secrets(
    down_collector: Collector, make_shipper: MakeShipper, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated send failures give one warning, naming neither the key nor any event."""
    caplog.set_level(logging.INFO, logger="apiwatch.shipper")
    shipper = make_shipper(down_collector.url, api_key="s3cret-ingest-key", log_interval=60)
    sent = ship(shipper, 60)
    assert wait_until(lambda: shipper.stats()["send_failures"] >= 3)
    shipper.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "apiwatch.shipper"]
    assert len([m for m in messages if "cannot deliver" in m]) == 1
    text = "\n".join(messages)
    assert "s3cret" not in text
    assert not any(event_id in text for event_id in sent)
    assert "request 1" not in text


# -- the spool ----------------------------------------------------------------------------------


def test_spool_is_replayed_first_by_the_next_shipper(
    down_collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """Events spooled while the collector was down are sent by a new shipper, before its own."""
    first = make_shipper(down_collector.url)
    sent = ship(first, 300)
    first.close(timeout=2)
    assert first.stats()["queued"] == 300
    assert spooled_ids(first) == sent

    down_collector.start()
    second = make_shipper(down_collector.url)
    sent += ship(second, 100)
    assert second.flush(timeout=5)
    assert down_collector.event_ids() == sent
    assert second.stats()["shipped"] == 400
    assert second.stats()["queued"] == 0


def test_full_spool_drops_the_newest_and_stays_under_its_bound(
    down_collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """With a tiny spool, the oldest events are kept, the newest dropped and counted."""
    bound = 8 * 1024
    shipper = make_shipper(down_collector.url, max_spool_bytes=bound)
    sent = ship(shipper, 2000)
    shipper.close(timeout=2)
    stats = shipper.stats()
    assert stats["dropped"] > 0
    assert stats["journaled"] > 0
    assert stats["journaled"] + stats["dropped"] == 2000
    assert journal_size(tmp_path / "spool") <= bound
    assert spooled_ids(shipper) == sent[: stats["journaled"]]


def test_damaged_leftovers_are_discarded_and_counted(
    collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """A half-written temporary file is deleted; an unreadable legacy segment (a gzip'd batch
    of apiwatch before the journal) is skipped and counted."""
    slot = tmp_path / "spool" / "slot-0"
    slot.mkdir(parents=True)
    (slot / "00000000000000000000.ndjson.gz").write_bytes(b"not gzip")
    (slot / "00000000000000000001.ndjson.gz.tmp").write_bytes(b"half")
    shipper = make_shipper(collector.url)
    sent = ship(shipper, 5)
    assert shipper.flush(timeout=5)
    assert collector.event_ids() == sent
    assert shipper.stats()["bad_segments"] == 1
    assert not list(slot.glob("*.gz*"))


def test_shippers_sharing_a_spool_dir_claim_different_slots(
    collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """Two live shippers on one spool_dir get slots 0 and 1; a closed one's slot is reused."""
    first = make_shipper(collector.url)
    second = make_shipper(collector.url)
    assert (first.slot, second.slot) == (0, 1)
    assert first.spool_path != second.spool_path
    first.close()
    assert make_shipper(collector.url).slot == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_ships_from_its_own_slot(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """In a child forked after the shipper was made, events ship from a slot of the child's own."""
    parent = make_shipper(collector.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: what gunicorn does
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            ship(parent, 10)
            code = 0 if parent.flush(timeout=5) and parent.slot == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(collector.unique_event_ids()) == 10
    assert parent.slot == 0
    assert parent.stats()["shipped"] == 0


# -- the caller's side --------------------------------------------------------------------------


def test_events_are_journaled_while_the_thread_is_stuck(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """With the thread stuck on a slow collector, every event is journaled, none dropped."""
    collector.mode = "slow"
    collector.slow_delay = 3.0
    shipper = make_shipper(collector.url, batch_size=10, timeout=5.0)
    ship(shipper, 10)
    assert wait_until(lambda: len(collector.accepted) == 10)  # the thread now waits on the answer
    sent = ship(shipper, 1000)
    stats = shipper.stats()
    assert (stats["journaled"], stats["dropped"]) == (1010, 0)
    assert spooled_ids(shipper)[-1000:] == sent
    collector.mode = "normal"
    collector.release_slow()
    assert shipper.flush(timeout=5)
    assert shipper.stats()["shipped"] == 1010


def test_events_after_close_are_dropped_and_counted(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """Calling a closed shipper neither raises nor blocks; the event is counted as dropped."""
    shipper = make_shipper(collector.url)
    shipper.close()
    ship(shipper, 1)
    assert shipper.stats()["dropped"] == 1


# -- TLS -------------------------------------------------------------------------------------------


def test_tls_delivers_with_ca_file_and_spools_on_an_unknown_certificate(
    make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """With ca_file the collector's certificate is trusted; without, delivery fails and spools."""
    cert_file, key_file = write_self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    with Collector(api_key=KEY, tls=server_context) as collector:
        trusting = make_shipper(collector.url, ca_file=cert_file, spool_dir=tmp_path / "a")
        sent = ship(trusting, 20)
        assert trusting.flush(timeout=5)
        assert collector.event_ids() == sent

        default = make_shipper(collector.url, spool_dir=tmp_path / "b")
        ship(default, 20)
        assert wait_until(lambda: default.stats()["send_failures"] >= 1)
        assert not default.flush(timeout=0.2)
        default.close()
        stats = default.stats()
        assert (stats["shipped"], stats["queued"]) == (0, 20)
        assert collector.event_ids() == sent


# -- options ---------------------------------------------------------------------------------------


def test_default_spool_dir_is_per_collector_under_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The default spool lives under $XDG_STATE_HOME, one sanitised directory per collector."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    spool = tmp_path / "apiwatch" / "spool"
    assert default_spool_dir("https://collector.example:8470/") == spool / "collector.example_8470"
    assert default_spool_dir("https://[::1]/") == spool / "__1_443"


@pytest.mark.parametrize(
    ("url", "options", "option"),
    [
        ("ftp://collector.example", {}, "collector"),
        ("https://collector.example", {"api_key": ""}, "api_key"),
        ("https://collector.example", {"api_key": "two words"}, "api_key"),
        ("https://collector.example", {"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ("https://collector.example", {"batch_size": 0}, "batch_size"),
        ("https://collector.example", {"fsync": "sometimes"}, "fsync"),
    ],
)
def test_unusable_options_raise_config_error_naming_the_option(
    url: str, options: dict[str, Any], option: str, tmp_path: Path
) -> None:
    """A URL, key, CA file or limit that cannot work fails at construction, naming the option."""
    options = {"api_key": KEY, "spool_dir": tmp_path, **options}
    with pytest.raises(ConfigError, match=f"^{option}:"):
        Shipper(url, **options)


def test_public_names() -> None:
    """The module exports the shipper and the default spool location, nothing else."""
    assert shipper_module.__all__ == ["Shipper", "default_spool_dir"]


# -- the journal: killed processes, orphaned slots, batches, a hung collector ---------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_events_of_a_sigkilled_process_are_adopted_and_delivered(
    down_collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """A process SIGKILLed with events not yet sent loses none: a live shipper adopts its slot."""
    live = make_shipper(down_collector.url, adopt_interval=0.05)
    ids_file = tmp_path / "ids"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: what gunicorn does
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which kills itself
        doomed = Shipper(down_collector.url, api_key=KEY, spool_dir=tmp_path / "spool", **FAST)
        ids_file.write_text("\n".join(ship(doomed, 300)))
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    down_collector.start()
    sent = ids_file.read_text().split("\n")
    assert down_collector.wait_for(300, timeout=10)
    assert down_collector.unique_event_ids() == sent
    assert wait_until(lambda: live.stats()["adopted"] == 1)
    # the collector holds the last batch a moment before its answer reaches the shipper
    assert wait_until(lambda: live.stats()["shipped"] == 300)


def test_orphaned_slot_of_any_number_is_adopted_and_its_torn_tail_discarded(
    collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """A slot above every live one, left with a partial last line, is delivered and emptied."""
    orphan = tmp_path / "spool" / "slot-7"
    orphan.mkdir(parents=True)
    (tmp_path / "spool" / "slot-7.lock").touch()
    events = [Event(event=EventMeta(action="http_request")) for _ in range(3)]
    journal = b"".join(encode_event(event) + b"\n" for event in events)
    (orphan / f"{0:020d}.ndjson").write_bytes(journal + b'{"event": {"act')
    shipper = make_shipper(collector.url, adopt_interval=0.05)
    assert shipper.slot == 0
    assert collector.wait_for(3)
    assert collector.unique_event_ids() == [event.event.id for event in events]
    assert wait_until(lambda: shipper.stats()["torn"] == 1 and not list(orphan.iterdir()))


def test_under_load_requests_carry_full_batches(
    collector: Collector, make_shipper: MakeShipper
) -> None:
    """A burst is sent in requests of batch_size events, not in whatever arrived meanwhile."""
    shipper = make_shipper(collector.url, batch_size=250, flush_interval=30.0)
    sent = ship(shipper, 5000)
    assert collector.wait_for(5000, timeout=10)
    assert collector.event_ids() == sent
    assert [len(request.lines) for request in collector.requests] == [250] * 20


def test_close_with_a_hung_collector_leaves_everything_for_the_next_process(
    make_shipper: MakeShipper, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """close() against a collector that accepts but never answers returns, says how many
    events it left in the spool, and the next shipper delivers them exactly once."""
    caplog.set_level(logging.WARNING, logger="apiwatch.shipper")
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)  # connections complete in the backlog; nobody ever reads them
    collector = Collector(api_key=KEY)
    collector.port = hung.getsockname()[1]
    first = make_shipper(collector.url, timeout=5.0)
    sent = ship(first, 120)
    first.close(timeout=0.5)
    messages = [r.getMessage() for r in caplog.records if r.name == "apiwatch.shipper"]
    assert any("120 events left in the spool" in message for message in messages), messages
    hung.close()
    with collector:
        second = make_shipper(collector.url)
        assert second.flush(timeout=5)
        assert collector.event_ids() == sent


def test_new_owner_of_a_slot_writes_past_the_acknowledged_position(
    collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """A slot whose last owner was killed after delivering everything (no segment left, its
    position already past the last one) is reused without its new events going unread."""
    slot = tmp_path / "spool" / "slot-0"
    slot.mkdir(parents=True)
    (slot / "acked").write_text(f"{1:020d} {0:020d}\n")
    shipper = make_shipper(collector.url)
    sent = ship(shipper, 5)
    assert shipper.flush(timeout=5)
    assert collector.event_ids() == sent


def test_an_orphan_of_several_segments_is_delivered_whole(
    collector: Collector, make_shipper: MakeShipper, tmp_path: Path
) -> None:
    """An orphaned slot whose journal spans several short segments is sent to its last line."""
    orphan = tmp_path / "spool" / "slot-3"
    orphan.mkdir(parents=True)
    (tmp_path / "spool" / "slot-3.lock").touch()
    sent = []
    for number in range(4):
        events = [Event(event=EventMeta(action="http_request")) for _ in range(3)]
        sent += [event.event.id for event in events]
        journal = b"".join(encode_event(event) + b"\n" for event in events)
        (orphan / f"{number:020d}.ndjson").write_bytes(journal)
    make_shipper(collector.url, adopt_interval=0.05)
    assert collector.wait_for(12)
    assert collector.unique_event_ids() == sent


def test_an_unusable_spool_dir_falls_back_to_a_private_temporary_one(
    collector: Collector,
    make_shipper: MakeShipper,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A spool_dir that cannot be made still journals (to a private temp dir) and says where."""
    monkeypatch.setattr(shipper_module.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    shipper = make_shipper(collector.url, spool_dir=blocker / "spool")
    with caplog.at_level(logging.WARNING, logger="apiwatch.sensor"):
        sent = ship(shipper, 30)
        assert shipper.flush(timeout=5)
    assert collector.event_ids() == sent
    fallback = tmp_path / "tmp" / f"apiwatch-spool-{os.getuid()}"
    assert shipper.spool_path is not None
    assert shipper.spool_path.is_relative_to(fallback)
    assert fallback.stat().st_mode & 0o777 == 0o700
    assert any("journaling to" in r.getMessage() for r in caplog.records)


def test_a_planted_fallback_spool_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fallback spool directory that others may write (planted) is not used."""
    monkeypatch.setattr(shipper_module.tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"apiwatch-spool-{os.getuid()}"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    with pytest.raises(OSError, match="not a private directory"):
        shipper_module._fallback_spool_dir("http://127.0.0.1:8470")
