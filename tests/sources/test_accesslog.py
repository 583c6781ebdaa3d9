"""nginx / Apache access-log lines become Events; hostile content stays inert data."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiwatch.model import Event, EventDecodeError, decode_event, encode_event
from apiwatch.sources import accesslog, parse_access_line
from apiwatch.sources._http import split_request

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
COMBINED = (
    f'203.0.113.7 - - [10/Oct/2026:13:55:36 +0000] "GET /api/v1/items/42 HTTP/1.1" 200 612 '
    f'"https://shop.example/" "{UA}"\n'
)


def parse(line: str) -> Event:
    event = parse_access_line(line)
    assert event is not None
    return event


def test_combined_line_gives_every_field() -> None:
    """A combined line gives time, client, method, path, status, agent and the fixed event meta."""
    event = parse(COMBINED)
    assert event.timestamp == datetime(2026, 10, 10, 13, 55, 36, tzinfo=UTC)
    assert event.source is not None and event.source.ip == "203.0.113.7"
    assert event.source.address is None
    assert event.http is not None and event.http.request is not None
    assert event.http.request.method == "GET"
    assert event.http.response is not None and event.http.response.status_code == 200
    assert event.url is not None and event.url.path == "/api/v1/items/42"
    assert event.url.query is None
    assert event.user_agent is not None and event.user_agent.original == UA
    assert event.user is None
    meta = event.event
    assert (meta.action, meta.kind, meta.dataset) == ("http_request", "event", "nginx.access")
    assert (meta.category, meta.type, meta.outcome) == (["web"], ["access"], "success")


def test_ipv6_remote_addr_is_source_ip_in_canonical_form() -> None:
    """An IPv6 $remote_addr is source.ip, written in its canonical compressed form."""
    event = parse(COMBINED.replace("203.0.113.7", "2001:0db8:0:0:0:0:0:1"))
    assert event.source is not None and event.source.ip == "2001:db8::1"


def test_non_ip_remote_addr_is_kept_as_source_address() -> None:
    """A $remote_addr that is not an IP (a unix socket) is source.address, with no source.ip."""
    event = parse(COMBINED.replace("203.0.113.7", "unix:"))
    assert event.source is not None
    assert (event.source.ip, event.source.address) == (None, "unix:")


def test_a_remote_addr_with_an_ipv6_zone_is_not_source_ip() -> None:
    """An IPv6 zone (any text after %) is not an address: kept, escaped, as source.address."""
    event = parse(COMBINED.replace("203.0.113.7", "2001:db8::1%\x1b[2J;deny"))
    assert event.source is not None
    assert (event.source.ip, event.source.address) == (None, "2001:db8::1%\\x1b[2J;deny")


def test_remote_user_is_user_name() -> None:
    """$remote_user other than "-" is user.name, spaces included (Basic auth sends any name)."""
    event = parse(COMBINED.replace(" - - ", " - alice ", 1))
    assert event.user is not None and event.user.name == "alice"
    spaced = parse(COMBINED.replace(" - - ", " - bob smith ", 1))
    assert spaced.user is not None and spaced.user.name == "bob smith"


def test_dash_request_is_kept_as_an_event() -> None:
    """A "-" request (connection closed before a request) still gives an event, path "-"."""
    event = parse('198.51.100.9 - - [10/Oct/2026:13:55:36 +0000] "-" 400 0 "-" "-"')
    assert event.url is not None and event.url.path == "-"
    assert event.http is not None and event.http.request is not None
    assert event.http.request.method is None
    assert event.user_agent is None
    assert event.event.outcome == "failure"


def test_binary_request_from_scanner_is_kept_verbatim() -> None:
    """TLS bytes sent to a plain port, as nginx escapes them, are the path, never decoded."""
    raw = r"\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03"
    event = parse(f'198.51.100.9 - - [10/Oct/2026:13:55:36 +0000] "{raw}" 400 150 "-" "-"')
    assert event.url is not None and event.url.path == raw
    assert event.http is not None and event.http.request is not None
    assert event.http.request.method is None


def test_request_with_space_in_target_is_kept_whole() -> None:
    """A request line that is not METHOD TARGET PROTO is kept whole as the path."""
    event = parse(COMBINED.replace("GET /api/v1/items/42 HTTP/1.1", "GET /a b HTTP/1.1"))
    assert event.url is not None and event.url.path == "GET /a b HTTP/1.1"


def test_query_string_is_split_with_percent_encoding_kept() -> None:
    """The target splits at the first "?" into url.path and url.query, percent-encoding as is."""
    line = COMBINED.replace("/api/v1/items/42", "/search%2Fx?q=a%20b&next=/x?y")
    event = parse(line)
    assert event.url is not None
    assert (event.url.path, event.url.query) == ("/search%2Fx", "q=a%20b&next=/x?y")


def test_absolute_form_target_gives_domain_and_path() -> None:
    """A proxy probe's absolute-form target gives url.domain and url.path, no userinfo."""
    line = COMBINED.replace("/api/v1/items/42", "http://u:pw@example.org:8080/x?a=1")
    event = parse(line)
    assert event.url is not None
    assert (event.url.domain, event.url.path, event.url.query) == ("example.org", "/x", "a=1")


def test_extra_trailing_fields_after_user_agent_are_ignored() -> None:
    """$request_time and "$http_x_forwarded_for" after the agent leave the fields intact."""
    line = COMBINED.rstrip("\n") + ' 0.005 "10.0.0.1, 10.0.0.2"\n'
    event = parse(line)
    assert event.user_agent is not None and event.user_agent.original == UA
    assert event.source is not None and event.source.ip == "203.0.113.7"


def test_hostile_user_agent_is_kept_as_data() -> None:
    """nginx \\x escapes and <script> in the agent are kept verbatim, not decoded or stripped."""
    agent = r"<script>alert(1)</script> \x22\x1B[31mred\x5C"
    event = parse(COMBINED.replace(UA, agent))
    assert event.user_agent is not None and event.user_agent.original == agent


def test_raw_control_characters_are_escaped() -> None:
    """A raw ESC or bidi override (logs from other tooling) becomes a visible escape."""
    event = parse(COMBINED.replace(UA, "evil\x1b[2J\u202edone").replace("/items", "/it\x07ems"))
    assert event.user_agent is not None
    assert event.user_agent.original == "evil\\x1b[2J\\u202edone"
    assert event.url is not None and event.url.path == "/api/v1/it\\x07ems/42"


def test_invalid_utf8_byte_is_written_as_its_hex_escape() -> None:
    """A byte that was invalid UTF-8 (read with surrogateescape) appears as \\xNN."""
    line = b'1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET /\xff HTTP/1.1" 404 0 "-" "-"'
    event = parse(line.decode("utf-8", "surrogateescape"))
    assert event.url is not None and event.url.path == "/\\xff"
    assert b"\\\\xff" in encode_event(event)


def test_apache_escaped_quote_in_user_agent() -> None:
    """Apache's \\" inside a quoted field does not end the field."""
    event = parse(COMBINED.replace(UA, r"say \"hi\" now"))
    assert event.user_agent is not None and event.user_agent.original == r"say \"hi\" now"


def test_apache_common_log_format() -> None:
    """A Common Log Format line (no referer, no agent) parses, with no user_agent."""
    line = '192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'
    event = parse(line)
    assert event.user_agent is None
    assert event.user is not None and event.user.name == "frank"
    assert event.timestamp == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("10/Oct/2026:01:30:00 +0200", datetime(2026, 10, 9, 23, 30, tzinfo=UTC)),
        ("31/Dec/2026:23:00:00 -0530", datetime(2027, 1, 1, 4, 30, tzinfo=UTC)),
        ("01/Mar/2028:00:15:00 +0545", datetime(2028, 2, 29, 18, 30, tzinfo=UTC)),
    ],
)
def test_non_utc_offsets_are_converted_to_utc(local: str, utc: datetime) -> None:
    """$time_local with any UTC offset becomes the same instant as a tz-aware UTC datetime."""
    event = parse(COMBINED.replace("10/Oct/2026:13:55:36 +0000", local))
    assert event.timestamp == utc
    assert event.timestamp.utcoffset() is not None and not event.timestamp.utcoffset()


@pytest.mark.parametrize(
    ("status", "outcome"), [(302, "success"), (399, "success"), (404, "failure")]
)
def test_outcome_follows_status(status: int, outcome: str) -> None:
    """event.outcome is success below 400 and failure from 400 on."""
    event = parse(COMBINED.replace(" 200 612 ", f" {status} 612 "))
    assert event.event.outcome == outcome


@pytest.mark.parametrize("line", ["", "\n", "   \r\n", "\t"])
def test_blank_line_gives_none(line: str) -> None:
    """A blank line is no event and no error."""
    assert parse_access_line(line) is None


def test_crlf_line_ending_is_accepted() -> None:
    """A line ending in CRLF parses like one ending in LF."""
    event = parse(COMBINED.replace("\n", "\r\n"))
    assert event.user_agent is not None and event.user_agent.original == UA


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("hello", "expected '$remote_addr $ident ' at the start"),
        ('1.2.3.4 - - 10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 1', "no '['"),
        ('1.2.3.4 - - [10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 1', "no ']'"),
        ('1.2.3.4 - - [2026-10-10T13:55:36Z] "GET / HTTP/1.1" 200 1', "$time_local is not like"),
        ("1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] GET / 200 1", "not in double quotes"),
        ('1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / 200 1', "no closing double quote"),
        ('1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" OK 1', "$status"),
        ('1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 many', "$body_bytes"),
        ('1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "ua', "referer"),
        ('1.2.3.4 - - [10/Foo/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1', "unknown month"),
        ('1.2.3.4 - - [31/Feb/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1', "not a valid time"),
    ],
)
def test_malformed_line_error_names_the_problem(line: str, problem: str) -> None:
    """A malformed line raises EventDecodeError saying which part is wrong."""
    with pytest.raises(EventDecodeError) as caught:
        parse_access_line(line)
    assert problem in caught.value.reason


def test_malformed_line_is_shown_escaped_in_the_error() -> None:
    """The error quotes the offending line with control characters escaped (safe to print)."""
    with pytest.raises(EventDecodeError) as caught:
        parse_access_line("\x1b[2Jgarbage line")
    assert "\x1b" not in str(caught.value)
    assert "\\x1b[2Jgarbage" in str(caught.value)


def test_events_round_trip_through_the_ecs_codec() -> None:
    """An access-log event encodes as ECS JSON and decodes back to an equal event."""
    event = parse(COMBINED.replace(" - - ", " - alice ", 1).replace("42 ", "42?a=1 "))
    again = decode_event(encode_event(event))
    assert msgspec.structs.asdict(again) == msgspec.structs.asdict(event)


def test_a_repeated_request_line_gives_the_same_fields_each_time() -> None:
    """Request lines are split once and kept: a line that repeats one (with an escaped byte,
    a query, an absolute-form target) gives the fields its first sighting gave."""
    requests = (
        "GET /a\\x1b[2J?q=1 HTTP/1.1",
        "GET http://user:pw@proxy.example:8080/p?x HTTP/1.0",
        "\\x16\\x03\\x01",
        "POST /login HTTP/2.0",
    )
    for request in requests:
        line = COMBINED.replace("GET /api/v1/items/42 HTTP/1.1", request)
        first, again = parse(line), parse(line)
        assert (first.url, first.http) == (again.url, again.http)
        assert first.event.action == again.event.action
    last = parse(COMBINED.replace("GET /api/v1/items/42 HTTP/1.1", requests[1]))
    assert last.url is not None and (last.url.domain, last.url.path) == ("proxy.example", "/p")
    assert last.http is not None and last.http.version == "1.0"


_REQUEST_PARTS = st.sampled_from(
    ["GET", "post", "M-SEARCH", "1GET", "", " ", "/", "/a", "?", "?q=1", "&", "http://h/x",
     "HTTP/", "HTTP/1.1", "HTTP/2.0", "HTTP/x y", "\x1b", "\u202e", "\udc80", "é", "\t", "-"]
)  # fmt: skip


@given(st.lists(_REQUEST_PARTS, max_size=7).map("".join))
def test_request_line_fast_path_splits_as_split_request(request: str) -> None:
    """The printable origin-form fast path gives what split_request and the version give."""
    fast = accesslog._origin_form(request)
    method, domain, path, query = split_request(request)
    version = accesslog._version(request) if method else None
    if fast is not None:
        assert fast == (method, domain, path, query, version)
    assert accesslog._split(request) == (method, domain, path, query, version)


def test_request_line_fast_path_takes_the_usual_line() -> None:
    """A printable ``METHOD /path?query HTTP/x`` takes the fast path; escapes and others do not."""
    assert accesslog._origin_form("GET /a/b?x=1 HTTP/1.1") == ("GET", None, "/a/b", "x=1", "1.1")
    assert accesslog._origin_form("GET /a? HTTP/2.0") == ("GET", None, "/a", None, "2.0")
    assert accesslog._origin_form("GET /a\x1b HTTP/1.1") is None
    assert accesslog._origin_form("GET http://h/a HTTP/1.1") is None
    assert accesslog._origin_form("GET /a b HTTP/1.1") is None
