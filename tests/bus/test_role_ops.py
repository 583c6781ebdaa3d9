"""The writer's and detect role's operations endpoints: /metrics counts what they did with the
bus, /healthz and /readyz answer, on real NATS and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests._wait import wait_for
from tests.bus.cluster import Cluster, free_port, new_ids, post, scrape
from tests.bus.test_scaleout import stuffing_lines

pytestmark = pytest.mark.slow


def test_writer_and_detect_metrics_count_stored_duplicate_and_fed_events(
    cluster: Cluster,
) -> None:
    """Events sent twice in part: the writer's /metrics counts the stored, the duplicates, the
    bus messages and commits; detect's counts the events fed, the duplicates skipped and the
    incident it opened; both are ready."""
    key = cluster.setup()
    writer = cluster.start("writer")[1]
    detect = cluster.start("detect")[1]
    url = cluster.start("ingest")[1]
    ids = new_ids(750)
    with httpx.Client() as client:
        assert post(client, url, key, ids[:500]).status_code == 202
        assert post(client, url, key, ids[250:]).status_code == 202  # 250 sent again
        _send_stuffing(client, url, key)
    wait_for(lambda: scrape(writer).get("apiwatch_events_accepted_total") == 771,
             "the writer counted 771 stored", 60, 0.2)  # fmt: skip
    written = scrape(writer)
    assert written["apiwatch_events_duplicate_total"] == 250
    assert written["apiwatch_bus_messages_total"] == 3
    assert written["apiwatch_commit_seconds_count"] >= 1
    assert written["apiwatch_bus_rows_refused_total"] == 0
    assert written["apiwatch_bus_connected"] == 1
    assert "apiwatch_bus_pending" in written
    wait_for(lambda: scrape(detect).get("apiwatch_detect_incidents_total", 0) >= 1,
             "detect opened an incident", 60, 0.5)  # fmt: skip
    fed = scrape(detect)
    assert fed["apiwatch_bus_events_fed_total"] == 771
    assert fed["apiwatch_bus_events_duplicate_total"] == 250
    assert fed["apiwatch_detect_alerts_total"] >= 1
    for role_url in (writer, detect):
        assert httpx.get(f"{role_url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{role_url}/readyz").json() == {"status": "ready"}


def _send_stuffing(client: httpx.Client, url: str, key: str) -> None:
    lines = stuffing_lines()
    response = client.post(
        f"{url}/v1/events", content="\n".join(lines).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("role", ["writer", "detect"])
def test_a_role_whose_bus_is_unreachable_is_alive_but_not_ready(
    cluster: Cluster, role: str
) -> None:
    """With nothing listening at the bus URL the role keeps retrying: /healthz answers ok,
    /readyz 503 saying the bus is not connected, /metrics shows it disconnected."""
    cluster.setup()
    _, url = cluster.start(role, "--bus", f"nats://127.0.0.1:{free_port()}", ready=False)

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, f"the {role} role answers /healthz", 30, 0.1)
    ready = httpx.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json() == {"error": "not ready: the bus is not connected"}
    assert scrape(url)["apiwatch_bus_connected"] == 0
