"""SigmaHQ's web taxonomy maps onto ECS, and apiwatch derives the fields its rules group by."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiwatch.detect import canonical_field, infer_route, to_record
from tests.detect.helpers import alerts_of, detection, event, load, run


@pytest.mark.parametrize(
    ("sigma", "ecs"),
    [("c-ip", "source.ip"), ("cs-uri-query", "url.original"), ("c-uri-query", "url.query"),
     ("cs-uri-stem", "url.path"), ("sc-status", "http.response.status_code"),
     ("c-useragent", "user_agent.original"), ("cs-method", "http.request.method"),
     ("source.ip", "source.ip")],
)  # fmt: skip
def test_taxonomy_names_map_to_ecs(sigma: str, ecs: str) -> None:
    """SigmaHQ webserver field names map to ECS names; ECS names stay as they are."""
    assert canonical_field(sigma) == ecs


def test_sigmahq_style_rule_runs_on_apiwatch_events(tmp_path: Path) -> None:
    """A rule written with c-ip, cs-method, cs-uri-query and c-useragent matches an ECS event."""
    body = """
    selection:
      c-ip|cidr: 203.0.113.0/24
      cs-method: GET
      cs-uri-query|contains: '/../'
      c-useragent|contains: curl
    condition: selection
    """
    ruleset = load(tmp_path, detection("web", body))
    hit = event(path="/static/../../etc/passwd", query="x=1")
    miss = event(path="/static/app.js", query="x=/../")  # cs-uri-query is path and query
    assert alerts_of(run(ruleset, [hit]))
    assert alerts_of(run(ruleset, [miss]))
    assert not alerts_of(run(ruleset, [event(path="/static/app.js")]))


@pytest.mark.parametrize("value", ["404", "'404'", "[401, 404]", "['401', '404']"])
def test_sc_status_matches_as_number_and_as_string(tmp_path: Path, value: str) -> None:
    """``sc-status`` matches the integer status whether the rule writes 404 or '404'."""
    ruleset = load(tmp_path, detection("status", f"sel: {{sc-status: {value}}}\ncondition: sel"))
    assert alerts_of(run(ruleset, [event(status=404)]))
    assert not alerts_of(run(ruleset, [event(status=200)]))


def test_status_wildcard_matches_the_decimal_text(tmp_path: Path) -> None:
    """A wildcard on ``sc-status`` matches the status code's decimal form ('5*' is any 5xx)."""
    ruleset = load(tmp_path, detection("server-error", "sel: {sc-status: '5*'}\ncondition: sel"))
    assert alerts_of(run(ruleset, [event(status=503)]))
    assert not alerts_of(run(ruleset, [event(status=404)]))


def test_routes_are_inferred_from_paths() -> None:
    """Numeric, UUID and long hex segments become ``{id}``; words stay."""
    assert infer_route("/orders/42/items/9f86d081884c7d65") == "/orders/{id}/items/{id}"
    assert infer_route("/users/3fa85f64-5717-4562-b3fc-2c963f66afa6") == "/users/{id}"
    assert infer_route("/api/v1/cafe/add") == "/api/v1/cafe/add"


def test_object_id_comes_from_the_sensor_route_when_given() -> None:
    """``labels.route`` wins over inference; the object is the path's value for its last slot."""
    values = to_record(
        event(path="/api/v1/orders/A-17", labels={"route": "/api/v1/orders/{ref}"})
    ).values
    assert values["apiwatch.route"] == "/api/v1/orders/{ref}"
    assert values["apiwatch.object_id"] == "A-17"
    inferred = to_record(event(path="/api/v1/orders/42")).values
    assert (inferred["apiwatch.route"], inferred["apiwatch.object_id"]) == (
        "/api/v1/orders/{id}",
        "42",
    )


def test_a_path_gets_the_route_each_event_gives_it() -> None:
    """One path seen with and without the sensor's route, in either order, is judged by each
    event's own route (what a path implies is remembered per path and given route)."""
    path = "/api/v1/orders/A-17/items/42"
    given = {"route": "/api/v1/orders/{ref}/items/{n}"}
    for _ in range(2):
        bare = to_record(event(path=path)).values
        routed = to_record(event(path=path, labels=given)).values
        assert (bare["apiwatch.route"], bare["apiwatch.object_id"]) == (
            "/api/v1/orders/A-17/items/{id}",
            "42",
        )
        assert routed["apiwatch.route"] == given["route"]
        assert routed["apiwatch.object_id"] == "42"
        assert to_record(event(path="/a/b.tar.gz", labels=given)).values["url.extension"] == "gz"


def test_actor_is_the_account_else_the_token_else_the_address() -> None:
    """``apiwatch.actor`` is user.name, else the token fingerprint, else source.ip."""
    assert (
        to_record(event(user="olivia", labels={"token_id": "t1"})).values["apiwatch.actor"]
        == "olivia"
    )
    assert to_record(event(labels={"token_id": "t1"})).values["apiwatch.actor"] == "t1"
    assert to_record(event(ip="192.0.2.9")).values["apiwatch.actor"] == "192.0.2.9"


@pytest.mark.parametrize(
    ("action", "login"),
    [("authn_login_fail", "fail"), ("authn_login_lock", "fail"), ("authn_login_success", "success"),
     ("authn_login_successafterfail", "success"), ("http_request", None)],
)  # fmt: skip
def test_login_outcome_is_derived_from_the_owasp_action(action: str, login: str | None) -> None:
    """``apiwatch.login`` is fail or success for login actions and absent for anything else."""
    assert to_record(event(action=action)).values.get("apiwatch.login") == login


_OLD_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*"
    r"|[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*)\Z"
)


@given(st.text(alphabet="0123456789abcdefABCDEFgxz-", max_size=40))
def test_id_segments_are_recognised_as_the_documented_pattern_says(segment: str) -> None:
    """An id segment is digits, a UUID, 16+ hex, or 8+ hex mixing digits and letters."""
    expected = segment.isdigit() or (len(segment) >= 8 and bool(_OLD_ID_SEGMENT.match(segment)))
    assert (infer_route(f"/a/{segment}") == "/a/{id}") == (bool(segment) and expected)


def test_a_long_near_miss_segment_is_classified_in_linear_time() -> None:
    """A client-chosen 50,000-character near-hex segment cannot stall detection (no ReDoS)."""
    segment = "0a" * 25_000 + "g"
    started = time.perf_counter()
    assert infer_route(f"/x/{segment}") == f"/x/{segment}"
    assert infer_route(f"/x/{segment[:-1]}") == "/x/{id}"
    assert time.perf_counter() - started < 2.0
