"""No secret — webhook key, Slack URL, SMTP password, apprise token — reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from apiwatch.respond import (
    AppriseNotifier,
    Decided,
    Dispatcher,
    EmailNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from apiwatch.respond.notify import Notifier

from .helpers import incident
from .receivers import free_port, http_receiver
from .test_smtp import Mailbox, smtp_server

WEBHOOK_SECRET = "whsec-never-log-7f3a9"
SLACK_TOKEN = "slack-token-never-log-c41d"
SMTP_PASSWORD = "smtp-pass-never-log-e90b"
APPRISE_TOKEN = "apprise-token-never-log-51aa"
SECRETS = (WEBHOOK_SECRET, SLACK_TOKEN, SMTP_PASSWORD, APPRISE_TOKEN)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path, password=SMTP_PASSWORD)


def run(notifiers: dict[str, Notifier]) -> Dispatcher:
    with Dispatcher(notifiers, attempts=2, backoff=0.001) as dispatcher:
        dispatcher.submit(incident(), Decided(notify=list(notifiers)))
        assert dispatcher.join(20)
    return dispatcher


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("mail.log")  # the test SMTP server's own log
    )
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_successful_sends_log_no_secret(caplog: pytest.LogCaptureFixture, mailbox: Mailbox) -> None:
    """Delivered messages (httpx logs every request URL at INFO) leave no secret in the logs."""
    caplog.set_level(logging.DEBUG)
    with http_receiver() as receiver:
        dispatcher = run(
            {
                "hook": WebhookNotifier(receiver.url, secret=WEBHOOK_SECRET),
                "slack": SlackNotifier(f"{receiver.url}/services/T0/B0/{SLACK_TOKEN}"),
                "mail": EmailNotifier(
                    "127.0.0.1",
                    mailbox.port,
                    sender="apiwatch@example.org",
                    to=("soc@example.org",),
                    username="apiwatch",
                    password=SMTP_PASSWORD,
                    ca_file=str(mailbox.cert),
                ),
                "apprise": AppriseNotifier(
                    f"json://apiwatch:{APPRISE_TOKEN}@127.0.0.1:{receiver.port}/"
                ),
            }
        )
        receiver.wait_for(3)
    assert dispatcher.totals().sent == 4
    assert any(r.name == "httpx" and "<redacted>" in r.getMessage() for r in caplog.records)
    assert_no_secret(caplog)


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_failures_log_no_secret(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Failing sends (refused connections, 500s, refused logins) log no secret either."""
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{free_port()}"
    with http_receiver(statuses=[500] * 10) as failing:
        for mailbox in smtp_server(tmp_path, password=SMTP_PASSWORD):
            dispatcher = run(
                {
                    "hook": WebhookNotifier(failing.url, secret=WEBHOOK_SECRET),
                    "slack": SlackNotifier(f"{closed}/services/T0/B0/{SLACK_TOKEN}"),
                    "slack500": SlackNotifier(f"{failing.url}/services/T0/B0/{SLACK_TOKEN}"),
                    "mail": EmailNotifier(
                        "127.0.0.1",
                        mailbox.port,
                        sender="apiwatch@example.org",
                        to=("soc@example.org",),
                        username="apiwatch",
                        password=SMTP_PASSWORD + "-wrong",
                        ca_file=str(mailbox.cert),
                    ),
                    "apprise": AppriseNotifier(f"json://apiwatch:{APPRISE_TOKEN}@{closed[7:]}/"),
                }
            )
    assert dispatcher.totals().failed == 5
    assert "not delivered" in caplog.text
    assert_no_secret(caplog)
