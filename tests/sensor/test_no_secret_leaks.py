"""Property: no secret a request carries ever appears in any sensor output."""

from __future__ import annotations

import base64
import io
import json
import logging
import string
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiwatch.sensor import EcsFormatter, LoggingOutput, MemoryOutput

from .apps import fastapi_app
from .asgi_helpers import call_asgi

SECRETS = st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=40).map(
    lambda s: "Zq9" + s  # a prefix no other part of the output can contain by chance
)


def _luhn_complete(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


CARDS = st.text(alphabet=string.digits, min_size=15, max_size=15).map(_luhn_complete)
SECRET_QUERY_KEYS = st.sampled_from(
    ["password", "token", "api_key", "access_token", "client_secret", "apikey", "code", "ssn"]
)


def _outputs() -> tuple[MemoryOutput, LoggingOutput, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EcsFormatter())
    logger = logging.getLogger("apiwatch.events.property")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return MemoryOutput(), LoggingOutput("apiwatch.events.property"), stream


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    password=SECRETS,
    token=SECRETS,
    cookie=SECRETS,
    query_secret=SECRETS,
    query_key=SECRET_QUERY_KEYS,
    card=CARDS,
    as_form=st.booleans(),
    basic=st.booleans(),
)
def test_secrets_never_reach_any_output(
    password: str,
    token: str,
    cookie: str,
    query_secret: str,
    query_key: str,
    card: str,
    as_form: bool,
    basic: bool,
) -> None:
    """Password, bearer/basic credentials, session cookie, query secrets and card numbers are
    absent from every line the sensor writes, through memory and through logging."""
    memory, logging_output, stream = _outputs()
    app = fastapi_app(outputs=[memory, logging_output], redact_keys=["ssn"])
    if as_form:
        body = f"username=alice&password={quote(password)}".encode()
        content_type = b"application/x-www-form-urlencoded"
    else:
        body = json.dumps({"username": "alice", "password": password}).encode()
        content_type = b"application/json"
    credentials = (
        b"Basic " + base64.b64encode(f"alice:{token}".encode())
        if basic
        else f"Bearer {token}".encode()
    )
    call_asgi(
        app,
        method="POST",
        path="/users/login",
        query=f"{query_key}={query_secret}&q={card}".encode(),
        headers=[
            (b"content-type", content_type),
            (b"authorization", credentials),
            (b"cookie", f"sessionid={cookie}; theme=dark".encode()),
            (b"user-agent", f"client card {card}".encode()),
        ],
        body=body,
    )
    written = b"\n".join(memory.lines).decode() + stream.getvalue()
    assert '"authn_login_fail"' in written
    for secret in (password, token, cookie, query_secret, card):
        assert secret not in written
    if basic:
        assert base64.b64encode(f"alice:{token}".encode()).decode() not in written
