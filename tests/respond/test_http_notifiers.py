"""Webhook and Slack notifiers against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from apiwatch.respond import (
    Dispatcher,
    Message,
    NotifyError,
    Responder,
    SlackNotifier,
    WebhookNotifier,
    parse_config,
    sign,
    verify_signature,
)
from apiwatch.respond.notifiers import SIGNATURE_HEADER, TIMESTAMP_HEADER
from apiwatch.respond.notifiers.slack import slack_payload

from .helpers import NOW, incident, policy
from .receivers import free_port, http_receiver

SECRET = "whsec-test-0123456789"


def message() -> Message:
    case = incident(accounts_compromised=["bob"])
    decided = Responder(parse_config({"policy": [policy()]})).decide(case, now=NOW)
    return Message.build(case, decided.decisions, base_url="https://aw.example")


def test_webhook_posts_signed_json_the_receiver_can_verify() -> None:
    """The receiver gets the JSON body with a timestamp and an HMAC it verifies with the secret."""
    with http_receiver() as receiver:
        WebhookNotifier(f"{receiver.url}/hook", secret=SECRET).send(message())
        (request,) = receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers[TIMESTAMP_HEADER]
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert abs(int(timestamp) - time.time()) < 60
    assert verify_signature(request.body, secret=SECRET, timestamp=timestamp, signature=signature)
    body = json.loads(request.body)
    assert body["incident"]["id"] == "inc-1"
    assert body["incident"]["accounts_compromised"] == ["bob"]
    assert len(body["decisions"]) == 3
    assert body["text"].startswith("Incident: Credential stuffing")


def test_signature_verification_refuses_tampering_wrong_keys_and_replays() -> None:
    """A changed body, another secret, a bad header or an old timestamp all fail verification."""
    body, stamp = b'{"a":1}', str(int(time.time()))
    good = sign(body, secret=SECRET, timestamp=stamp)
    assert verify_signature(body, secret=SECRET, timestamp=stamp, signature=good)
    assert not verify_signature(b'{"a":2}', secret=SECRET, timestamp=stamp, signature=good)
    assert not verify_signature(body, secret="other", timestamp=stamp, signature=good)
    assert not verify_signature(body, secret=SECRET, timestamp=stamp, signature="sha256=00")
    assert not verify_signature(body, secret=SECRET, timestamp="yesterday", signature=good)
    old = str(int(time.time()) - 3600)
    stale = sign(body, secret=SECRET, timestamp=old)
    assert not verify_signature(body, secret=SECRET, timestamp=old, signature=stale)


def test_webhook_without_a_secret_is_unsigned() -> None:
    """No secret configured: no signature headers (and nothing pretends to be signed)."""
    with http_receiver() as receiver:
        WebhookNotifier(receiver.url).send(message())
        (request,) = receiver.wait_for(1)
    assert SIGNATURE_HEADER not in request.headers


def test_webhook_failures_raise() -> None:
    """A non-2xx answer or a closed port is a NotifyError naming the notifier."""
    with (
        http_receiver(statuses=[500]) as receiver,
        pytest.raises(NotifyError, match=r"^ops: HTTP 500$"),
    ):
        WebhookNotifier(receiver.url, name="ops").send(message())
    with pytest.raises(NotifyError, match=r"^ops: ConnectError"):
        WebhookNotifier(f"http://127.0.0.1:{free_port()}", name="ops").send(message())


def test_dispatcher_retries_after_a_500_then_succeeds() -> None:
    """The receiver answers 500 once; the dispatcher retries and the second POST is accepted."""
    with http_receiver(statuses=[500]) as receiver:
        notifier = WebhookNotifier(receiver.url, secret=SECRET)
        with Dispatcher({"ops": notifier}, backoff=0.01) as dispatcher:
            decided = Responder(
                parse_config(
                    {
                        "notifiers": {"ops": {"type": "webhook", "url": receiver.url}},
                        "policy": [policy(notify=["ops"])],
                    }
                )
            ).decide(incident(), now=NOW)
            assert dispatcher.submit(incident(), decided) == 1
            assert dispatcher.join(10)
            stats = dispatcher.stats()["ops"]
        first, second = receiver.wait_for(2)
    assert (stats.sent, stats.failed, stats.retries) == (1, 0, 1)
    assert first.body == second.body
    assert verify_signature(
        second.body,
        secret=SECRET,
        timestamp=second.headers[TIMESTAMP_HEADER],
        signature=second.headers[SIGNATURE_HEADER],
    )


def test_slack_gets_text_and_blocks() -> None:
    """Slack receives a ``text`` fallback and Block Kit blocks with the incident laid out."""
    with http_receiver() as receiver:
        SlackNotifier(f"{receiver.url}/services/T000/B000/XXXX").send(message())
        (request,) = receiver.wait_for(1)
    assert request.path == "/services/T000/B000/XXXX"
    payload = json.loads(request.body)
    assert payload["text"].startswith("Incident: Credential stuffing")
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "[apiwatch] HIGH incident: Credential stuffing from one source",
        },
    }
    texts = json.dumps(blocks)
    assert "*Accounts compromised*\\nbob" in texts
    assert "would ban" not in texts and "ban Ip 203.0.113.9" in texts
    assert blocks[-1]["elements"][0]["text"] == (
        "<https://aw.example/v1/incidents/inc-1|Open incident inc-1>"
    )


def test_slack_markup_in_attacker_text_is_escaped() -> None:
    """``<!channel>`` in a compromised account name reaches Slack escaped, not as a mention."""
    case = incident(accounts_compromised=["<!channel> bob & co"])
    with http_receiver() as receiver:
        SlackNotifier(receiver.url + "/s/T/B/X").send(Message.build(case, base_url="http://x"))
        (request,) = receiver.wait_for(1)
    raw = request.body.decode()
    assert "<!channel>" not in raw
    assert "&lt;!channel&gt; bob &amp; co" in raw


def test_slack_never_links_or_mentions_from_attacker_text() -> None:
    """Every mrkdwn text is verbatim (no auto-linked URL, no parsed @here), unfurling is off."""
    case = incident(accounts_compromised=["https://evil.example/reset @here #general"])
    payload = slack_payload(Message.build(case, base_url="http://x"))
    texts = [
        item
        for block in payload["blocks"]
        for item in (block.get("text"), *block.get("fields", ()), *block.get("elements", ()))
        if isinstance(item, dict) and item["type"] == "mrkdwn"
    ]
    assert texts and all(text.get("verbatim") is True for text in texts)
    assert any("https://evil.example/reset" in text["text"] for text in texts)
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
