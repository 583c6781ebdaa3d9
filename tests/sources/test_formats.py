"""Every supported log format gives the same request Event as its nginx twin; wrappers peel.

Lines are written from each format's documentation (nginx ``log_format combined``, Apache
``%v``, RFC 3164/5424, the CRI log format, Docker json-file, Traefik, Caddy, Envoy, AWS ALB,
HAProxy ``option httplog``, nginx-proxy-manager, Zoraxy, nginx/Apache error logs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apiwatch.model import Event, EventDecodeError, encode_event
from apiwatch.sources import FormatUnknownError, LogFile, parse_access_line
from apiwatch.sources.formats import detect

IP = "203.0.113.7"
UA = "curl/8.5.0"
WHEN = datetime(2026, 10, 10, 13, 55, 36, tzinfo=UTC)
NGINX = (
    f'{IP} - - [10/Oct/2026:13:55:36 +0000] "POST /api/login?next=/x HTTP/1.1" 401 19 "-" "{UA}"'
)

TWINS = {
    "nginx vhost (Apache %v)": f"shop.example {NGINX}",
    "Apache vhost_combined (%v:%p)": f"shop.example:443 {NGINX}",
    "BunkerWeb": NGINX.replace(" - - ", " - 0f1e2d3c4b5a6978 - ").replace(IP, f"shop.example {IP}"),
    "syslog RFC 3164": f"Oct 10 13:55:36 web1 nginx[2869]: {NGINX}",
    "syslog RFC 3164 with PRI": f"<190>Oct 10 13:55:36 web1 nginx: {NGINX}",
    "syslog RFC 5424": f"<190>1 2026-10-10T13:55:36.120Z web1 nginx 2869 - - {NGINX}",
    "syslog RFC 5424 with data": f'<190>1 2026-10-10T13:55:36Z web1 nginx - - [m@1 a="1"] {NGINX}',
    "rsyslog ISO time": f"2026-10-10T13:55:36.120452+00:00 web1 nginx[7]: {NGINX}",
    "CRI/containerd": f"2026-10-10T13:55:36.120452817Z stdout F {NGINX}",
    "Docker json-file": json.dumps(
        {"log": NGINX + "\n", "stream": "stdout", "time": "2026-10-10T13:55:36.1Z"}
    ),
    "journald JSON": json.dumps({"MESSAGE": NGINX, "_PID": "7", "SYSLOG_IDENTIFIER": "nginx"}),
    "Docker wrapping syslog": json.dumps({"log": f"Oct 10 13:55:36 web1 nginx: {NGINX}\n"}),
    "Traefik CLF": f'{NGINX} 42 "login@docker" "http://10.0.0.3:80" 3ms',
    "LiteSpeed": NGINX.replace(f'"{UA}"', f'"{UA}"'),
    "Traefik JSON": json.dumps(
        {
            "ClientAddr": f"{IP}:39490",
            "ClientHost": IP,
            "ClientUsername": "-",
            "DownstreamStatus": 401,
            "RequestMethod": "POST",
            "RequestPath": "/api/login?next=/x",
            "RequestProtocol": "HTTP/1.1",
            "StartUTC": "2026-10-10T13:55:36.464763557Z",
            "request_User-Agent": UA,
            "RequestHost": "shop.example",
        }
    ),
    "Caddy JSON": json.dumps(
        {
            "level": "info",
            "ts": WHEN.timestamp(),
            "logger": "http.log.access.log0",
            "msg": "handled request",
            "request": {
                "remote_ip": IP,
                "remote_port": "5",
                "client_ip": IP,
                "proto": "HTTP/1.1",
                "method": "POST",
                "host": "shop.example",
                "uri": "/api/login?next=/x",
                "headers": {"User-Agent": [UA]},
            },
            "user_id": "",
            "status": 401,
            "size": 19,
        }
    ),
    "Envoy default": (
        '[2026-10-10T13:55:36.000Z] "POST /api/login?next=/x HTTP/1.1" 401 - 0 19 3 2 '
        f'"{IP}" "{UA}" "cc21d9b0-cf5c" "shop.example" "10.0.2.1:80"'
    ),
    "Envoy JSON": json.dumps(
        {
            "start_time": "2026-10-10T13:55:36.000Z",
            "method": "POST",
            "path": "/api/login?next=/x",
            "response_code": 401,
            "user_agent": UA,
            "downstream_remote_address": f"{IP}:59292",
            "authority": "shop.example",
        }
    ),
    "AWS ALB": (
        "https 2026-10-10T13:55:36.186641Z app/my-lb/50dc6c495c0c9188 "
        f"{IP}:2817 10.0.0.1:80 0.000 0.001 0.000 401 401 34 366 "
        f'"POST https://shop.example:443/api/login?next=/x HTTP/1.1" "{UA}" '
        "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:1:"
        'targetgroup/t/73e2 "Root=1-58337262" "shop.example" "-" 0 '
        '2026-10-10T13:55:36.0Z "forward" "-" "-" "10.0.0.1:80" "401" "-" "-"'
    ),
    "HAProxy httplog in syslog": (
        f"Oct 10 13:55:36 lb haproxy[14389]: {IP}:33317 [10/Oct/2026:13:55:36.655] http-in "
        "api/srv1 10/0/30/69/109 401 2750 - - ---- 1/1/1/1/0 0/0 {shop.example} {} "
        '"POST /api/login?next=/x HTTP/1.1"'
    ),
    "nginx-proxy-manager proxy": (
        "[10/Oct/2026:13:55:36 +0000] - 401 401 - POST https shop.example "
        f'"/api/login?next=/x" [Client {IP}] [Length 19] [Gzip -] [Sent-to 10.0.0.2] '
        f'"{UA}" "-"'
    ),
    "Zoraxy": (
        "2026/10/10 13:55:36 [2026-10-10 13:55:36.417736] [router:shop] [origin:shop.example] "
        f"[client: {IP}] [useragent: {UA}] POST /api/login?next=/x 401"
    ),
}

NO_AGENT = {"HAProxy httplog in syslog"}  # HAProxy logs headers only when told to capture them


def fields(event: Event) -> tuple[object, ...]:
    assert event.source is not None and event.http is not None and event.url is not None
    assert event.http.request is not None and event.http.response is not None
    agent = event.user_agent.original if event.user_agent else None
    return (
        event.timestamp.replace(microsecond=0), event.source.ip, event.http.request.method,
        event.url.path, event.url.query, event.http.response.status_code, agent, event.event.action,
        event.user,
    )  # fmt: skip


def read(tmp_path: Path, *lines: str) -> tuple[list[Event], str | None, list[tuple[int, str]]]:
    log = tmp_path / "x.log"
    log.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    errors: list[tuple[int, str]] = []
    with LogFile(log) as opened:
        events = list(opened.events(on_error=lambda n, m: errors.append((n, m))))
        return events, opened.format, errors


@pytest.mark.parametrize("name", TWINS)
def test_each_format_gives_the_same_event_as_its_nginx_twin(tmp_path: Path, name: str) -> None:
    """The same request in any supported format gives the nginx line's time, client, method,
    path, query, status, agent (where the format logs it), login inference and no account."""
    twin = parse_access_line(NGINX)
    assert twin is not None
    events, _, errors = read(tmp_path, TWINS[name], TWINS[name])
    assert errors == []
    expected = fields(twin)
    if name in NO_AGENT:
        expected = (*expected[:6], None, *expected[7:])
    assert [fields(e) for e in events] == [expected] * 2
    assert events[0].event.action == "authn_login_fail"


@pytest.mark.parametrize(
    ("name", "detected"),
    [
        ("syslog RFC 3164", "nginx in syslog"),
        ("CRI/containerd", "nginx in CRI"),
        ("Docker wrapping syslog", "nginx in syslog in Docker/journald JSON"),
        ("Traefik JSON", "traefik"),
        ("AWS ALB", "alb"),
        ("HAProxy httplog in syslog", "haproxy in syslog"),
    ],
)
def test_the_format_is_decided_per_file_with_its_wrappers(
    tmp_path: Path, name: str, detected: str
) -> None:
    """Detection names the inner format and each wrapper peeled, outermost last."""
    assert read(tmp_path, TWINS[name])[1] == detected


def test_a_syslog_prefix_never_makes_the_month_a_client_or_the_address_an_account() -> None:
    """A syslog-prefixed line read as plain nginx is refused, not parsed with client "Sep"."""
    with pytest.raises(EventDecodeError, match="not an address"):
        parse_access_line(f"Sep 15 16:13:46 web1 nginx[2869]: {NGINX}")


def test_a_vhost_prefix_gives_the_client_not_the_host_and_no_account() -> None:
    """``%v %h %l %u``: the second field is the client; the ident/user dashes are no account."""
    event = parse_access_line(f"www.example.org {NGINX}")
    assert event is not None and event.source is not None
    assert (event.source.ip, event.source.address, event.user) == (IP, None, None)


def test_bunkerweb_request_id_is_not_the_account() -> None:
    """BunkerWeb's ``$request_id $remote_user``: the hex id is skipped, the user kept."""
    line = NGINX.replace(" - - ", " - 0f1e2d3c4b5a6978 alice ").replace(IP, f"h.example {IP}")
    event = parse_access_line(line)
    assert event is not None and event.user is not None and event.user.name == "alice"


def test_a_host_name_client_with_a_plain_user_is_still_source_address() -> None:
    """HostnameLookups: a host name first with a one-word user stays source.address."""
    event = parse_access_line(NGINX.replace(IP, "client.example.net").replace(" - - ", " - bob "))
    assert event is not None and event.source is not None
    assert (event.source.ip, event.source.address) == (None, "client.example.net")


NGINX_ERRORS = [
    '2026/10/10 13:55:36 [error] 19#19: *17 user "admin" was not found in "/etc/htpasswd", '
    f'client: {IP}, server: _, request: "GET /admin?x=1 HTTP/1.1", host: "shop.example"',
    '2026/10/10 13:55:36 [info] 8#8: *6631 client login failed: "AUTH not supported" while in '
    f'http auth state, client: {IP}, server: 0.0.0.0:25, login: "bob@example.com"',
    '2026/10/10 13:55:36 [error] 4#4: *42 limiting requests, excess: 5.428 by zone "z", '
    f'client: {IP}, server: , request: "GET / HTTP/1.1", host: "shop.example"',
]


def test_nginx_error_lines_become_events_with_what_they_carry(tmp_path: Path) -> None:
    """nginx error lines: client, level, message, request path; auth failures name the account;
    rate limiting is excess_rate_limit_exceeded; a line without a client is refused."""
    notice = "2026/10/10 13:55:36 [notice] 1#1: signal process started"
    events, detected, errors = read(tmp_path, *NGINX_ERRORS, notice)
    assert detected == "nginx-error"
    assert [e.event.action for e in events] == [
        "authn_login_fail", "authn_login_fail", "excess_rate_limit_exceeded",
    ]  # fmt: skip
    first = events[0]
    assert first.source is not None and first.source.ip == IP and first.timestamp == WHEN
    assert first.url is not None and (first.url.path, first.url.query) == ("/admin", "x=1")
    assert first.user is not None and first.user.name == "admin"
    assert first.log is not None and first.log.level == "error"
    assert first.http is not None and first.http.response is None
    assert events[1].user is not None and events[1].user.name == "bob@example.com"
    assert [n for n, _ in errors] == [4]
    assert "without a client" in errors[0][1]


def test_apache_error_lines_2_2_and_2_4_become_events(tmp_path: Path) -> None:
    """Apache error lines give the [client] address, the request quoted in the message, and
    auth failures with the account."""
    lines = [
        "[Sat Oct 10 13:55:36.203277 2026] [core:error] [pid 7005:tid 1406] "
        f"[client {IP}:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2e/x HTTP/1.1",
        f"[Sat Oct 10 13:55:36 2026] [error] [client {IP}] user bob: authentication failure "
        'for "/private": Password Mismatch',
    ]
    events, detected, errors = read(tmp_path, *lines)
    assert (detected, errors) == ("apache-error", [])
    assert [e.source.ip if e.source else None for e in events] == [IP, IP]
    assert events[0].url is not None and events[0].url.path == "/cgi-bin/.%2e/x"
    assert events[0].timestamp == WHEN
    assert events[1].user is not None and events[1].user.name == "bob"


def test_access_and_error_lines_mixed_in_one_stream_both_parse(tmp_path: Path) -> None:
    """A container's output mixes access and error lines: both kinds parse, whichever leads."""
    events, _, errors = read(tmp_path, *([NGINX] * 6), NGINX_ERRORS[0], NGINX)
    assert errors == [] and len(events) == 8


def test_a_misaligned_line_in_a_wrapped_file_is_refused_with_its_number(tmp_path: Path) -> None:
    """In a syslog-wrapped file, an unwrapped or broken line is refused with its line number."""
    wrapped = TWINS["syslog RFC 3164"]
    events, _, errors = read(tmp_path, wrapped, wrapped, "garbage here", wrapped)
    assert len(events) == 3
    assert [n for n, _ in errors] == [3]
    assert "not a syslog line" in errors[0][1]


def test_an_unknown_file_names_the_formats_tried(tmp_path: Path) -> None:
    """A file no format fits raises FormatUnknownError listing formats and wrappers tried."""
    with pytest.raises(FormatUnknownError) as caught:
        detect(["dear diary\n", "it rained\n"])
    message = str(caught.value)
    for name in ("nginx", "traefik", "caddy", "alb", "haproxy", "nginx-error", "syslog", "CRI"):
        assert name in message
    assert "dear diary" in message


def test_other_app_logs_magento_openappsec_sympa(tmp_path: Path) -> None:
    """Magento extension, open-appsec and wwsympa lines give the client and what happened."""
    magento = (
        '[2026-10-10 13:55:36] crowdsec-events.INFO:  {"type":"ADMIN_LOGIN_FAILED",'
        f'"ip":"{IP}","x-forwarded-for-ip":""}} []'
    )
    appsec = json.dumps(
        {
            "eventTime": "2026-10-10T13:55:36.000", "eventName": "Web Request",
            "eventData": {
                "sourceIP": IP, "httpMethod": "GET", "httpHostName": "shop.example",
                "matchedLocation": "url", "matchedSample": "/.env", "waapIncidentType": "LFI",
                "securityAction": "Prevent",
            },
        }
    )  # fmt: skip
    sympa = (
        "Oct 10 13:55:36 lists wwsympa[1278]: info main:: [robot l.example] [session 1] "
        f"[client {IP}] [user bob@example.com] Unknown action admin.php"
    )
    for line, action, detected in [
        (magento, "authn_login_fail", "magento"),
        (appsec, "http_request", "openappsec"),
        (sympa, "http_request", "sympa"),
    ]:
        events, found, errors = read(tmp_path, line)
        assert (found, errors) == (detected, [])
        assert events[0].source is not None and events[0].source.ip == IP
        assert events[0].event.action == action


def test_wwsympa_unknown_action_is_a_404_for_that_path(tmp_path: Path) -> None:
    """wwsympa's "Unknown action X" becomes a 404 for /X; its other lines carry no status."""
    head = "Oct 10 13:55:36 lists wwsympa[1278]: info main:: [robot l.example] [session 1] "
    events, _, errors = read(
        tmp_path,
        f"{head}[client {IP}] [user nobody] Unknown action .env",
        f"{head}[client {IP}] [user bob@example.com] Subscribed to list staff",
    )
    assert errors == []
    unknown, other = events
    assert unknown.url is not None and unknown.url.path == "/.env"
    assert unknown.http is not None and unknown.http.response is not None
    assert unknown.http.response.status_code == 404
    assert (other.url, other.http) == (None, None)


def _caddy(status: int, answer: dict[str, list[str]]) -> str:
    return json.dumps(
        {
            "level": "error", "ts": 1791640536.12, "msg": "handled request", "status": status,
            "request": {"client_ip": IP, "method": "GET", "host": "shop.example", "uri": "/admin",
                        "headers": {"User-Agent": [UA]}},
            "resp_headers": answer,
        }
    )  # fmt: skip


def test_a_caddy_401_with_an_authentication_challenge_is_a_failed_login(tmp_path: Path) -> None:
    """Caddy's basic_auth answer (401 + Www-Authenticate) is authn_login_fail on any path; a
    401 without a challenge (an API's expired token) stays an ordinary request."""
    events, found, errors = read(
        tmp_path,
        _caddy(401, {"Www-Authenticate": ['Basic realm="restricted"']}),
        _caddy(401, {"Content-Type": ["application/json"]}),
    )
    assert (found, errors) == ("caddy", [])
    assert [e.event.action for e in events] == ["authn_login_fail", "http_request"]


def test_access_lines_keep_http_version_referrer_and_body_size() -> None:
    """http.version, http.request.referrer (escaped) and http.response.body.bytes are kept;
    "-" and a 0-byte body leave them out; ECS JSON carries them nested."""
    hostile = "https://x.example/\x1b[31m\x07<script>"  # raw ESC and BEL: a line cannot hold CR/LF
    line = NGINX.replace("HTTP/1.1", "HTTP/1.2").replace('"-"', f'"{hostile}"')
    event = parse_access_line(line)
    assert event is not None and event.http is not None
    request, response = event.http.request, event.http.response
    assert event.http.version == "1.2"
    assert response is not None and response.body is not None and response.body.bytes == 19
    assert request is not None and request.referrer is not None
    assert "\x1b" not in request.referrer and "\x07" not in request.referrer
    assert request.referrer.startswith("https://x.example/")
    doc = json.loads(encode_event(event))
    assert doc["http"]["version"] == "1.2"
    assert doc["http"]["response"]["body"] == {"bytes": 19}
    bare = parse_access_line(NGINX.replace(" 401 19 ", " 401 0 "))
    assert bare is not None and bare.http is not None and bare.http.response is not None
    assert bare.http.request is not None and bare.http.request.referrer is None
    assert bare.http.response.body is None
    assert bare.extra == {}


def test_an_unknown_format_counts_the_lines_it_looked_at_in_agreement() -> None:
    """One line: "the only non-blank line is none of ...; it is 'x'"; two: "none of the first
    2 non-blank lines is any of ...; the first is 'x'"."""
    with pytest.raises(FormatUnknownError) as one:
        detect(["hello\n"])
    assert "the only non-blank line is none of: " in str(one.value)
    assert str(one.value).endswith("; it is 'hello'")
    with pytest.raises(FormatUnknownError) as two:
        detect(["hello\n", "world\n"])
    assert "none of the first 2 non-blank lines is any of: " in str(two.value)
    assert str(two.value).endswith("; the first is 'hello'")
