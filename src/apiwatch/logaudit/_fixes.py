"""The concrete fix for each missing essential, per kind of log: what to write in nginx,
Apache, the proxy or the apiwatch sensor so that the next log has it."""

from __future__ import annotations

from typing import Final

__all__ = ["NGINX_ECS_LOG_FORMAT", "fix_for", "leak_fix"]

NGINX_ECS_LOG_FORMAT: Final = r"""map "$request_method $uri $status" $apiwatch_action {
  default http_request;
  "~^POST \S*(login|signin|session|token)\S* 40[13]$" authn_login_fail;
  "~^POST \S*(login|signin|session|token)\S* [23]\d\d$" authn_login_success;
}
map $status $apiwatch_outcome { ~^[123] success; default failure; }
log_format apiwatch escape=json '{"@timestamp":"$time_iso8601",'
  '"event":{"id":"$request_id","action":"$apiwatch_action","outcome":"$apiwatch_outcome"},'
  '"source":{"ip":"$remote_addr"},'
  '"http":{"request":{"method":"$request_method","id":"$request_id"},'
  '"response":{"status_code":$status}},"url":{"path":"$uri"},'
  '"user_agent":{"original":"$http_user_agent"},'
  '"user":{"name":"$upstream_http_x_apiwatch_user"}}';
access_log /var/log/nginx/api.ndjson apiwatch;"""
"""An nginx ``log_format`` with every essential, as ECS JSON `apiwatch scan` reads: the time
with its offset, the request id, the path without the query string (no secrets in it), the
OWASP action and outcome of login routes (two ``map`` blocks, in the ``http`` context), and
the account the app names in an ``X-Apiwatch-User`` response header (hide it from clients
with ``proxy_hide_header X-Apiwatch-User;``)."""

_SENSOR: Final = "the apiwatch sensor"
_FIXES: Final[dict[tuple[str, str], str]] = {
    ("client IP", "nginx"): (
        "nginx behind a load balancer: set_real_ip_from {proxy}; real_ip_header "
        "X-Forwarded-For; real_ip_recursive on; (ngx_http_realip_module). Apache: "
        "RemoteIPHeader X-Forwarded-For and RemoteIPInternalProxy {proxy} (mod_remoteip), "
        "and log %a"
    ),
    ("client IP", "ecs"): (
        "name the load balancer in the sensor's trusted_proxies option "
        '(trusted_proxies=["{proxy}"]; proxy_header if it is not X-Forwarded-For)'
    ),
    ("client IP", "proxy"): (
        "make the proxy trust X-Forwarded-For from the load balancer ({proxy}) only: Traefik "
        "entryPoints.<name>.forwardedHeaders.trustedIPs, Caddy trusted_proxies, HAProxy "
        "option forwardfor on the load balancer, Envoy xff_num_trusted_hops"
    ),
    ("user agent", "nginx"): (
        "log the combined format (nginx: access_log ... combined; Apache: LogFormat "
        '"%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined), '
        "or the apiwatch log_format"
    ),
    ("account", "nginx"): (
        "an access log cannot see the account in a login body: have the app name it in a "
        "response header and log it (nginx: $upstream_http_x_apiwatch_user, with "
        "proxy_hide_header X-Apiwatch-User), or add " + _SENSOR + ", whose login hooks name the "
        "account of every attempt, failed ones included"
    ),
    ("account", "ecs"): (
        "the sensor names the attempted account on failed logins when it knows the login route "
        "(login_paths) or is told (audit.login_failure(user=...)); set user_hook for "
        "authenticated requests"
    ),
    ("time with zone", "nginx"): (
        "log $time_iso8601 or $time_local (nginx), %t (Apache): both carry the UTC offset"
    ),
    ("time with zone", "ecs"): (
        "write @timestamp in ISO 8601 with Z or an offset (Python logging: "
        "formatter.converter = time.gmtime and a trailing Z), as the apiwatch sensor does"
    ),
    ("time with zone", "errorlog"): (
        "nginx and Apache error logs never carry a zone: run the host in UTC and say so, and "
        "rely on the access log (with its offset) for detection"
    ),
    ("route", "nginx"): "log $request or $uri (nginx), %r or %U (Apache)",
    ("status", "nginx"): "log $status (nginx), %>s (Apache)",
    ("login outcome", "nginx"): (
        "answer a failed login with 401 (not 200 with an error in the body), or add "
        + _SENSOR
        + " (login_failure_header / login_failure_body tell it how the app says no)"
    ),
    ("login outcome", "ecs"): (
        "emit authn_login_success / authn_login_fail (the sensor: audit.login_success and "
        "audit.login_failure, or login_failure_header / login_failure_body)"
    ),
    ("request id", "nginx"): (
        "log $request_id and pass it on (proxy_set_header X-Request-ID $request_id); Apache: "
        "mod_unique_id's %{UNIQUE_ID}e"
    ),
    ("request id", "ecs"): (
        "the sensor writes http.request.id from the X-Request-ID header (request_id_header) or "
        "its own event id"
    ),
}


def fix_for(essential: str, family: str, *, proxy: str = "<load balancer address>") -> str:
    """The fix for ``essential`` in a log of ``family`` (``nginx``, ``ecs``, ``errorlog`` or
    ``proxy``), falling back to the nginx one and then to the apiwatch log_format."""
    text = (
        _FIXES.get((essential, family))
        or _FIXES.get((essential, "nginx"))
        or "use the apiwatch log_format (docs/cli.md) or the apiwatch sensor"
    )
    return text.replace("{proxy}", proxy)


def leak_fix(kind: str, family: str) -> str:
    """How to stop a leak of ``kind`` in a log of ``family``."""
    if kind == "card number":
        return "never log payment data (PCI DSS 3.4); find the field that carries it and drop it"
    if family == "ecs":
        return (
            "add the field to the sensor's redact_keys (query parameters and JSON keys named "
            "like secrets are redacted by default), and send secrets in headers or bodies"
        )
    return (
        "send secrets in a header or the POST body, never the URL; until then log the path "
        "without its query string: nginx $uri instead of $request, Apache %U instead of %r"
    )
