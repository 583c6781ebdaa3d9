"""Response: what happens after an incident — decisions that stop the attacker, and a
notification people actually read (the "act" half of OWASP API10).

- `parse_config` reads ``[respond]`` into a `ResponseConfig` of `Policy` objects, allowlist
  entries and notifier settings;
- `Responder.decide` (pure, no I/O, no clock) turns an `Incident` into `Decided`: ban decisions
  per attacker or per range, ``flag`` decisions for *compromised* accounts only (never for
  targeted ones: victims are not locked out), token-revocation suggestions, notifier names —
  never acting against an allowlisted value or a protected internal range;
- `Dispatcher` sends one `Message` per incident (and an update only when it escalates) through
  `Notifier` implementations: webhook (signed JSON; `verify_signature` for receivers), Slack,
  SMTP email, syslog CEF, apprise;
- `Guard` (`apiwatch.respond.guard`) is the one check of what no decision may act on —
  allowlisted values and protected internal networks, also when an IPv6 value carries the IPv4
  address (6to4, NAT64, Teredo, mapped) — used by the `Responder`, by `check_decidable` for
  decisions made by hand, and by the exporters;
- `apiwatch.respond.manual` checks decisions and allowlist entries made by hand (CLI, admin
  API, console): `manual_allow_entry`, and `manual_decision`, which also asks the guard;
- `apiwatch.respond.exporters` writes nginx, nftables and ipset ban lists atomically.

Exceptions (`apiwatch.model.ApiwatchError` is the root)::

    ApiwatchError
    ├── ConfigError             a [respond] setting that cannot work; the message names the key
    ├── DecisionRefusedError    a value that is allowlisted or in a protected network
    └── NotifyError             a notification that could not be delivered (names no secret)
"""

from apiwatch.respond.dispatch import Dispatcher, NotifierStats
from apiwatch.respond.exporters import (
    atomic_write,
    banned_networks,
    render_ipset,
    render_nftables,
    render_nginx,
    write_ipset,
    write_nftables,
    write_nginx,
)
from apiwatch.respond.guard import (
    PROTECTED_NETWORKS,
    AllowEntries,
    Allowlist,
    DecisionRefusedError,
    Guard,
    Refusal,
    check_decidable,
)
from apiwatch.respond.manual import MANUAL, manual_allow_entry, manual_decision
from apiwatch.respond.notifiers import (
    AppriseNotifier,
    EmailNotifier,
    SlackNotifier,
    SyslogNotifier,
    WebhookNotifier,
    build_notifiers,
    sign,
    verify_signature,
)
from apiwatch.respond.notify import (
    DEFAULT_TEMPLATE,
    TEMPLATE_FIELDS,
    MemoryNotifier,
    Message,
    Notifier,
    NotifyError,
)
from apiwatch.respond.policy import ACTIONS, Policy, ResponseConfig, parse_config
from apiwatch.respond.responder import Decided, Responder

__all__ = [
    "ACTIONS",
    "DEFAULT_TEMPLATE",
    "MANUAL",
    "PROTECTED_NETWORKS",
    "TEMPLATE_FIELDS",
    "AllowEntries",
    "Allowlist",
    "AppriseNotifier",
    "Decided",
    "DecisionRefusedError",
    "Dispatcher",
    "EmailNotifier",
    "Guard",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "NotifierStats",
    "NotifyError",
    "Policy",
    "Refusal",
    "Responder",
    "ResponseConfig",
    "SlackNotifier",
    "SyslogNotifier",
    "WebhookNotifier",
    "atomic_write",
    "banned_networks",
    "build_notifiers",
    "check_decidable",
    "manual_allow_entry",
    "manual_decision",
    "parse_config",
    "render_ipset",
    "render_nftables",
    "render_nginx",
    "sign",
    "verify_signature",
    "write_ipset",
    "write_nftables",
    "write_nginx",
]
