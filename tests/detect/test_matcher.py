"""Sigma detections compiled to Python: each modifier SigmaHQ's web rules use means what Sigma says
it means."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.detect.helpers import alerts_of, detection, event, load, run

Match = Callable[..., bool]


@pytest.fixture
def matches(tmp_path: Path) -> Match:
    """``matches(detection_body, **event_fields)``: whether the rule fires on that one event."""

    def check(body: str, **fields: Any) -> bool:
        ruleset = load(tmp_path, detection("probe", body))
        return bool(alerts_of(run(ruleset, [event(**fields)]), "probe"))

    return check


def test_contains_startswith_endswith(matches: Match) -> None:
    """contains, startswith and endswith test the start, end and inside of a field's value."""
    contains = "sel: {url.path|contains: admin}\ncondition: sel"
    assert matches(contains, path="/api/v1/admin/users")
    assert not matches(contains, path="/api/v1/users")
    starts = "sel: {url.path|startswith: /internal/}\ncondition: sel"
    assert matches(starts, path="/internal/metrics")
    assert not matches(starts, path="/api/internal/metrics")
    ends = "sel: {url.path|endswith: .php}\ncondition: sel"
    assert matches(ends, path="/wp-login.php")
    assert not matches(ends, path="/wp-login.php/x")


def test_a_list_is_any_value_and_all_is_every_value(matches: Match) -> None:
    """A list of values matches any of them; with ``all`` it needs every one."""
    any_of = "sel: {url.query|contains: [union, sleep(]}\ncondition: sel"
    assert matches(any_of, query="q=sleep(5)")
    every = "sel: {url.query|contains|all: [union, select]}\ncondition: sel"
    assert matches(every, query="id=1 UNION SELECT 2")
    assert not matches(every, query="q=union+station")


def test_regular_expressions_are_case_sensitive_unless_flagged(matches: Match) -> None:
    """``re`` searches the value, case-sensitively; the ``i`` flag ignores case."""
    plain = r"sel: {url.path|re: '^/api/v[0-9]+/admin'}" + "\ncondition: sel"
    assert matches(plain, path="/api/v2/admin/users")
    assert not matches(plain, path="/API/V2/ADMIN")
    flagged = r"sel: {url.path|re|i: '^/api/v[0-9]+/admin'}" + "\ncondition: sel"
    assert matches(flagged, path="/API/V2/ADMIN")


def test_cidr_matches_addresses_inside_the_network(matches: Match) -> None:
    """``cidr`` matches IPv4 and IPv6 addresses inside the network, nothing else."""
    v4 = "sel: {source.ip|cidr: 203.0.113.0/24}\ncondition: sel"
    assert matches(v4, ip="203.0.113.200")
    assert not matches(v4, ip="198.51.100.7")
    assert not matches(v4, ip=None)
    v6 = "sel: {source.ip|cidr: '2001:db8::/32'}\ncondition: sel"
    assert matches(v6, ip="2001:db8:1::5")
    assert not matches(v6, ip="2001:db9::5")


def test_base64offset_finds_the_text_at_any_alignment(matches: Match) -> None:
    """``base64offset|contains`` finds base64 of the text at any offset in the encoded data."""
    body = "sel: {url.query|base64offset|contains: 'union select'}\ncondition: sel"
    for prefix in ("", "x", "xy"):
        encoded = base64.b64encode(f"{prefix}1 union select password".encode()).decode()
        assert matches(body, query=f"data={encoded}")
    assert not matches(body, query="data=1 union select password")


def test_exists_and_null(matches: Match) -> None:
    """``exists`` tests presence; ``null`` matches a missing field."""
    named = "sel: {user.name|exists: true}\ncondition: sel"
    assert matches(named, user="olivia")
    assert not matches(named)
    unnamed = "sel: {user.name|exists: false}\ncondition: sel"
    assert matches(unnamed)
    assert not matches(unnamed, user="olivia")
    null = "sel: {user.name: null}\ncondition: sel"
    assert matches(null)
    assert not matches(null, user="olivia")


@pytest.mark.parametrize(
    ("modifier", "status", "expected"),
    [("gt", 500, False), ("gt", 503, True), ("gte", 500, True), ("gte", 499, False),
     ("lt", 400, False), ("lt", 399, True), ("lte", 400, True), ("lte", 401, False)],
)  # fmt: skip
def test_numeric_comparisons(matches: Match, modifier: str, status: int, expected: bool) -> None:
    """gt/gte/lt/lte compare numbers (thresholds 500 for gt/gte, 400 for lt/lte)."""
    threshold = 500 if modifier.startswith("g") else 400
    body = f"sel: {{http.response.status_code|{modifier}: {threshold}}}\ncondition: sel"
    assert matches(body, status=status) is expected


def test_numeric_comparisons_never_match_a_missing_field(matches: Match) -> None:
    """A comparison on a field the event lacks is false, whichever way it points."""
    for modifier in ("gt", "gte", "lt", "lte"):
        body = f"sel: {{http.response.status_code|{modifier}: 400}}\ncondition: sel"
        assert not matches(body, status=None)


def test_wildcards_star_and_question_mark(matches: Match) -> None:
    """``*`` matches any run of characters, ``?`` exactly one."""
    star = "sel: {url.path: '/api/*/admin'}\ncondition: sel"
    assert matches(star, path="/api/v1/internal/admin")
    assert not matches(star, path="/api/v1/admin/x")
    one = "sel: {url.path: '/api/v?/items'}\ncondition: sel"
    assert matches(one, path="/api/v2/items")
    assert not matches(one, path="/api/v10/items")
    assert not matches(one, path="/api/v/items")


def test_strings_are_case_insensitive_unless_cased(matches: Match) -> None:
    """Plain values ignore case; the ``cased`` modifier makes them exact."""
    plain = "sel: {url.path: /Admin}\ncondition: sel"
    assert matches(plain, path="/ADMIN")
    assert matches(plain, path="/admin")
    cased = "sel: {url.path|cased: /Admin}\ncondition: sel"
    assert matches(cased, path="/Admin")
    assert not matches(cased, path="/admin")
    cased_contains = "sel: {user_agent.original|contains|cased: SQLMap}\ncondition: sel"
    assert matches(cased_contains, ua="x SQLMap y")
    assert not matches(cased_contains, ua="sqlmap/1.8")


def test_keywords_search_request_target_agent_referrer_and_message(matches: Match) -> None:
    """A value with no field is searched (as contains) in url, user agent, referrer and message."""
    body = "keywords: [etc/passwd, sqlmap]\ncondition: keywords"
    assert matches(body, path="/download", query="f=../../etc/passwd")
    assert matches(body, ua="SQLMAP/1.8")
    assert matches(body, **{"http.request.referrer": "https://x.example/?etc/passwd"})
    assert matches(body, path=None, message="GET /etc/passwd 404")
    assert not matches(body, user="etc/passwd")


def test_one_of_a_pattern_of_selections(matches: Match) -> None:
    """``1 of selection_*`` is any selection whose name fits the pattern."""
    body = """
    selection_tool: {user_agent.original|contains: nikto}
    selection_path: {url.path|endswith: /.env}
    other: {http.request.method: GET}
    condition: 1 of selection_*
    """
    assert matches(body, ua="Nikto/2.5")
    assert matches(body, path="/app/.env")
    assert not matches(body)


def test_all_of_them_and_not(matches: Match) -> None:
    """``all of them`` needs every selection; ``not`` negates (a missing field is no match)."""
    every = """
    method: {http.request.method: POST}
    login: {url.path: /api/v1/login}
    condition: all of them
    """
    assert matches(every, method="POST", path="/api/v1/login")
    assert not matches(every, method="GET", path="/api/v1/login")
    negated = """
    internal: {url.path|startswith: /internal}
    condition: not internal
    """
    assert matches(negated, path="/api/v1/items")
    assert not matches(negated, path="/internal/metrics")
    assert matches(negated, path=None)


def test_fieldref_compares_two_fields(matches: Match) -> None:
    """``fieldref`` matches when two fields of the event hold the same value."""
    body = "sel: {url.path|fieldref: labels.route}\ncondition: sel"
    assert matches(body, path="/health", labels={"route": "/health"})
    assert not matches(body, path="/orders/42", labels={"route": "/orders/{id}"})


def test_fieldref_never_matches_fields_the_event_lacks(matches: Match) -> None:
    """Two absent fields are not "equal": ``fieldref`` needs both fields present."""
    body = "sel: {user.name|fieldref: labels.owner}\ncondition: sel"
    assert not matches(body)
    assert not matches(body, user="bob")
    assert not matches(body, labels={"owner": "bob"})
    assert matches(body, user="bob", labels={"owner": "bob"})


def test_fieldref_to_an_unknown_field_is_unsupported(tmp_path: Path) -> None:
    """A field reference naming a field apiwatch events never carry is reported, not silent."""
    body = "sel: {user.name|fieldref: no.such}\ncondition: sel"
    ruleset = load(tmp_path, detection("probe", body), clean=False)
    assert not any(key.endswith("probe") for key in ruleset.rules)
    assert any("no.such" in problem.message for problem in ruleset.unsupported)


def test_memoised_tests_match_what_each_rule_alone_matches(tmp_path: Path) -> None:
    """`compile_all`'s per-value memo of a field's tests gives, for every event, the rules each
    rule's own matcher gives: repeated values, values equal across types (404, 404.0, "404",
    True, 1), a str subclass, case folds, and more distinct values than the memo keeps."""
    import datetime
    import itertools

    from apiwatch.detect import builtin_dir, load_rules, sigmahq_dir
    from apiwatch.detect.matcher import MEMO_LIMIT, compile_all, compile_detection
    from apiwatch.detect.rules import DetectionRule

    class Text(str):
        __slots__ = ()

    typed = [
        detection(f"typed{n}", f"sel: {{labels.kind{test}}}\ncondition: sel")
        for n, test in enumerate(["|contains: '.0'", ": true", "|endswith: rue", ": 1", ": 404"])
    ]
    own = load(tmp_path, "---\n".join(typed))
    ruleset = load_rules([builtin_dir(), sigmahq_dir()])
    rules = [*own.rules.values(), *ruleset.rules.values()]
    trees = [r.tree for r in rules if isinstance(r, DetectionRule)]
    match_all, _ = compile_all(trees)
    each = [compile_detection(tree)[0] for tree in trees]
    fields = sorted({f for tree in trees for f in compile_detection(tree)[1]})
    pool: list[Any] = [
        *(None, "", 404, 404.0, "404", True, False, 1, 1.0, 200, 1000, "1000", 3.5),
        *("GET", "post", "fail", "success", Text("fail"), Text("/.env"), "reset", "mfa"),
        *("/wp-login.php", "/WP-ADMIN", "/x/../etc/passwd", "' or 1=1", "\u017fqlmap", "NIKTO"),
        *("${jndi:ldap://x}", "Mozilla/5.0", "nginx.error", "1.1", "/AbCdEf", "\u212a"),
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    ]
    distinct = (f"/p/{n}?q={n}" for n in itertools.count())
    for n in range(3 * MEMO_LIMIT):
        values = {f: pool[(n * 7 + i * 13 + n // 5) % len(pool)] for i, f in enumerate(fields)}
        values["url.original"] = values["url.path"] = next(distinct) if n % 3 else pool[n % 9]
        expected = [i for i, one in enumerate(each) if one(values, {})]
        assert list(match_all(values, {})) == expected, values
