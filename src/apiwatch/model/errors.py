"""The exceptions apiwatch raises.

One root, so a caller can catch everything apiwatch raises with one clause. Every exception class
in apiwatch derives from it; those that were ``ValueError`` before keep that base too::

    ApiwatchError
    ├── ConfigError             (ValueError) an option or setting that cannot work
    ├── EventDecodeError        (ValueError) a line of ECS JSON that is not a valid event
    │   └── FormatUnknownError  sources.formats: no log format fits a file's first lines
    ├── FramingError            (ValueError) sources.syslog: a stream that cannot be framed
    ├── Unsupported             detect.matcher: a rule this engine cannot evaluate (reported)
    ├── _CaseError              detect.golden: a golden case's files are unreadable or malformed
    ├── StoreFullError          store: the disk or the size limit is full; nothing was stored
    ├── StoreUnavailableError   store: the database cannot be reached; nothing was stored
    ├── DecryptError            store.crypto: wrong key, or an altered ciphertext
    ├── TamperedError           store (verify): something the hash chain relies on was altered
    ├── DecisionRefusedError    respond.guard: an allowlisted or protected value
    ├── NotifyError             respond.notify: a notification that was not delivered
    ├── ForwardError            forward: a batch not (all) delivered; retried later
    ├── ReplayError             simulate.replay: the app could not be reached
    ├── BusError                bus: NATS unreachable, or an operation refused or unacknowledged
    ├── WireError               (ValueError) server.bus_roles: not a batch of sealed rows
    ├── BatchTooLargeError      (ValueError) server.ingest: more lines than one request may carry
    ├── BodyError               server: a request body that cannot be taken (``status``)
    ├── AuthError               server.auth: access refused, 401 or 403 (``status``)
    ├── NeedLogin               server.console: no valid session; a redirect to the login page
    └── Forbidden               server.console: the console's 403 (role or CSRF token)
"""

from __future__ import annotations

__all__ = ["ApiwatchError", "ConfigError", "EventDecodeError"]


class ApiwatchError(Exception):
    """Root of every exception apiwatch raises on purpose."""


class EventDecodeError(ApiwatchError, ValueError):
    """A line could not be decoded into an `Event`; `line` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.reason = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class ConfigError(ApiwatchError, ValueError):
    """An option was given a value that cannot work; the message names the option."""
