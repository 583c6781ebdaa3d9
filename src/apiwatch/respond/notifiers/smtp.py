"""Email through an SMTP server (smtplib): STARTTLS required unless told otherwise.

The first message about an incident has the Message-ID ``<incident-{id}@apiwatch>``; updates
refer to it (``In-Reply-To``, ``References``), so mail clients thread an incident together. The
password comes from the environment and is sent only over TLS.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final

from apiwatch.respond._config import Table
from apiwatch.respond._redact import register_secret
from apiwatch.respond.notifiers._http import tls_context
from apiwatch.respond.notifiers._settings import NotifierType, Secrets, env_name
from apiwatch.respond.notify import Message, NotifyError, clean

__all__ = ["NOTIFIER", "EmailNotifier", "SmtpSettings", "email_message"]


def email_message(
    message: Message, *, sender: str, to: tuple[str, ...], template: str = ""
) -> EmailMessage:
    """The email sent for ``message``."""
    mail = EmailMessage()
    mail["Subject"] = clean(message.subject)  # no CR/LF: no header injection
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    first = f"<incident-{clean(message.incident)}@apiwatch>"
    if message.update:
        mail["Message-ID"] = make_msgid(domain="apiwatch")
        mail["In-Reply-To"] = first
        mail["References"] = first
    else:
        mail["Message-ID"] = first
    mail["X-Apiwatch-Incident"] = clean(message.incident)
    mail["X-Apiwatch-Severity"] = message.severity
    mail.set_content(message.render(template))
    return mail


class EmailNotifier:
    """Mails each message to ``to`` through the SMTP server at ``host``:``port``.

    ``starttls`` (the default) refuses to send when the server does not offer STARTTLS;
    ``tls`` speaks TLS from the first byte (port 465). ``username``/``password`` log in, and
    only ever over TLS.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        to: tuple[str, ...],
        username: str = "",
        password: str = "",
        starttls: bool = True,
        tls: bool = False,
        ca_file: str = "",
        timeout: float = 10.0,
        template: str = "",
        name: str = "smtp",
    ) -> None:
        self.host, self.port = host, port
        self.sender, self.to = sender, tuple(to)
        self.username = username
        self._password = password
        self.starttls, self.tls = starttls and not tls, tls
        self.ca_file = ca_file
        self.timeout = timeout
        self.template = template
        self.name = name
        if password:
            register_secret(password)

    def __repr__(self) -> str:
        return f"EmailNotifier({self.name!r}, {self.host}:{self.port})"

    def send(self, message: Message) -> None:
        """Mail ``message``; raise `NotifyError` when the server cannot be reached, offers no
        STARTTLS (when required), refuses the login or the mail."""
        mail = email_message(message, sender=self.sender, to=self.to, template=self.template)
        try:
            self._deliver(mail)
        except NotifyError:
            raise
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise NotifyError(f"{self.name}: {type(exc).__name__}: {exc}") from None

    def _deliver(self, mail: EmailMessage) -> None:
        context = tls_context(self.ca_file)
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise NotifyError(f"{self.name}: the server does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                if not (self.tls or self.starttls):
                    raise NotifyError(f"{self.name}: refusing to send a password without TLS")
                smtp.login(self.username, self._password)
            smtp.send_message(mail)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Mail through an SMTP server, STARTTLS unless ``tls`` (implicit TLS) or told otherwise."""

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    username: str = ""
    password_env: str = ""
    starttls: bool = True
    tls: bool = False
    ca_file: str = ""
    timeout: float = 10.0

    @classmethod
    def from_table(cls, table: Table) -> SmtpSettings:
        """The ``type = "smtp"`` keys of ``table``."""
        tls = table.boolean("tls", False)
        starttls = table.boolean("starttls", not tls)
        if tls and starttls:
            raise table.error("starttls", "cannot be combined with tls (implicit TLS)")
        username, password_env = table.string("username", ""), env_name(table, "password_env")
        if username and not password_env:
            raise table.error("password_env", "required with username")
        to = table.strings("to")
        if not to:
            raise table.error("to", "give at least one recipient")
        return cls(
            host=table.string("host"),
            sender=table.string("sender"),
            to=to,
            port=table.integer("port", 465 if tls else 587, low=1, high=65535),
            username=username,
            password_env=password_env,
            starttls=starttls,
            tls=tls,
            ca_file=table.string("ca_file", ""),
            timeout=table.duration("timeout", "10s"),
        )

    def build(self, name: str, template: str, secrets: Secrets) -> EmailNotifier:
        """The mail notifier these settings describe."""
        return EmailNotifier(
            self.host,
            self.port,
            sender=self.sender,
            to=self.to,
            username=self.username,
            password=secrets("password_env", self.password_env),
            starttls=self.starttls,
            tls=self.tls,
            ca_file=self.ca_file,
            timeout=self.timeout,
            template=template,
            name=name,
        )


NOTIFIER: Final = NotifierType("smtp", SmtpSettings.from_table)
