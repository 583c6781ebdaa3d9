"""The email notifier against a real aiosmtpd server speaking STARTTLS on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from apiwatch.respond import EmailNotifier, Message, NotifyError

from ..tls_helpers import write_self_signed
from .helpers import incident
from .receivers import free_port

pytest.importorskip("aiosmtpd")

PASSWORD = "smtp-pass-9876"


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in."""

    port: int
    cert: Path
    mails: list[Any] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    tls_at_data: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.tls_at_data.append(session.ssl is not None)
        self.mails.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def smtp_server(
    tmp_path: Path, *, starttls: bool = True, password: str = PASSWORD
) -> Iterator[Mailbox]:
    """An aiosmtpd server on a free port (STARTTLS with a self-signed certificate, AUTH)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = write_self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox(port=free_port(), cert=cert)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        mailbox.logins.append((data.login, data.password))
        ok = data.password == password.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235/535

    options: dict[str, Any] = {
        "authenticator": authenticator,
        "auth_require_tls": True,
    }
    if starttls:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    yield from smtp_server(tmp_path)


def notifier(mailbox: Mailbox, **options: Any) -> EmailNotifier:
    settings: dict[str, Any] = {
        "sender": "apiwatch@example.org",
        "to": ("soc@example.org", "oncall@example.org"),
        "ca_file": str(mailbox.cert),
        "timeout": 5.0,
    }
    settings.update(options)
    return EmailNotifier("127.0.0.1", mailbox.port, **settings)


def test_email_goes_out_over_starttls_with_login(mailbox: Mailbox) -> None:
    """The mail is sent after STARTTLS, logged in with the password, to every recipient."""
    case = incident(accounts_compromised=["bob", "erin"])
    notifier(mailbox, username="apiwatch", password="smtp-pass-9876").send(
        Message.build(case, base_url="https://aw.example")
    )
    ((sender, recipients, raw),) = mailbox.mails
    assert sender == "apiwatch@example.org"
    assert recipients == ["soc@example.org", "oncall@example.org"]
    assert mailbox.tls_at_data == [True]
    assert mailbox.logins == [(b"apiwatch", b"smtp-pass-9876")]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "[apiwatch] HIGH incident: Credential stuffing from one source"
    assert mail["Message-ID"] == "<incident-inc-1@apiwatch>"
    body = mail.get_content()
    assert "Accounts compromised (2): bob, erin" in body
    assert "https://aw.example/v1/incidents/inc-1" in body


def test_updates_thread_under_the_first_mail(mailbox: Mailbox) -> None:
    """An update refers to the incident's first mail, so clients thread them together."""
    update = Message.build(incident(), base_url="http://x", update=True, changes=["x"])
    notifier(mailbox).send(update)
    mail = message_from_bytes(mailbox.mails[0][2], policy=policy.default)
    assert mail["In-Reply-To"] == "<incident-inc-1@apiwatch>"
    assert mail["Message-ID"] != "<incident-inc-1@apiwatch>"
    assert mail["Subject"].startswith("[apiwatch] HIGH update:")


def test_a_refused_login_raises(mailbox: Mailbox) -> None:
    """A wrong password is a NotifyError, and no mail is sent."""
    with pytest.raises(NotifyError, match="SMTPAuthenticationError"):
        notifier(mailbox, username="apiwatch", password="wrong").send(
            Message.build(incident(), base_url="http://x")
        )
    assert mailbox.mails == []


def test_starttls_is_required_by_default(tmp_path: Path) -> None:
    """A server without STARTTLS gets nothing: not the mail, and never the password."""
    for plain in smtp_server(tmp_path, starttls=False):
        with pytest.raises(NotifyError, match="does not offer STARTTLS"):
            notifier(plain, username="apiwatch", password="smtp-pass-9876").send(
                Message.build(incident(), base_url="http://x")
            )
        assert plain.mails == []
        assert plain.logins == []
