"""The OWASP Application Logging Vocabulary as a typed enumeration, with ECS categorisation.

Every name of the cheat sheet (https://cheatsheetseries.owasp.org/cheatsheets/
Logging_Vocabulary_Cheat_Sheet.html) is an `Action`; `Action.HTTP_REQUEST` is apiwatch's own name
for a plain request with no security meaning. `Action.spec` gives the cheat sheet's level and the
ECS ``event.category`` / ``event.type`` / ``event.outcome`` an event with that action carries.

`ECS_KINDS`, `ECS_CATEGORIES`, `ECS_TYPES` and `ECS_OUTCOMES` are ECS 8.x's allowed values of
those categorization fields (every action's spec uses only them).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ECS_CATEGORIES",
    "ECS_KINDS",
    "ECS_OUTCOMES",
    "ECS_TYPES",
    "Action",
    "ActionSpec",
    "Level",
]

ECS_KINDS = frozenset(
    {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}
)
ECS_CATEGORIES = frozenset({
    "api", "authentication", "configuration", "database", "driver", "email", "file", "host",
    "iam", "intrusion_detection", "library", "malware", "network", "package", "process",
    "registry", "session", "threat", "vulnerability", "web",
})  # fmt: skip
ECS_TYPES = frozenset({
    "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied",
    "device", "end", "error", "group", "indicator", "info", "installation", "protocol", "start",
    "user",
})  # fmt: skip
ECS_OUTCOMES = frozenset({"failure", "success", "unknown"})

Level = Literal["INFO", "WARN", "CRITICAL"]

#: ``logging`` level numbers for the vocabulary's levels (also used as ECS ``event.severity``).
LEVEL_NUMBERS: dict[str, int] = {"INFO": 20, "WARN": 30, "CRITICAL": 50}


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What the cheat sheet says of one action, mapped onto ECS categorisation fields."""

    family: str
    level: Level
    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: Literal["success", "failure", "unknown"] = "unknown"

    @property
    def severity(self) -> int:
        return LEVEL_NUMBERS[self.level]


class Action(enum.StrEnum):
    """An ``event.action`` value; the string value is the vocabulary's name."""

    HTTP_REQUEST = "http_request"
    # Authentication [AUTHN]
    AUTHN_LOGIN_SUCCESS = "authn_login_success"
    AUTHN_LOGIN_SUCCESSAFTERFAIL = "authn_login_successafterfail"
    AUTHN_LOGIN_FAIL = "authn_login_fail"
    AUTHN_LOGIN_FAIL_MAX = "authn_login_fail_max"
    AUTHN_LOGIN_LOCK = "authn_login_lock"
    AUTHN_PASSWORD_CHANGE = "authn_password_change"
    AUTHN_PASSWORD_CHANGE_FAIL = "authn_password_change_fail"
    AUTHN_IMPOSSIBLE_TRAVEL = "authn_impossible_travel"
    AUTHN_TOKEN_CREATED = "authn_token_created"
    AUTHN_TOKEN_REVOKED = "authn_token_revoked"
    AUTHN_TOKEN_REUSE = "authn_token_reuse"
    AUTHN_TOKEN_DELETE = "authn_token_delete"
    # Authorization [AUTHZ]
    AUTHZ_FAIL = "authz_fail"
    AUTHZ_CHANGE = "authz_change"
    AUTHZ_ADMIN = "authz_admin"
    # Encryption/Decryption [CRYPT]
    CRYPT_DECRYPT_FAIL = "crypt_decrypt_fail"
    CRYPT_ENCRYPT_FAIL = "crypt_encrypt_fail"
    # Excessive use [EXCESS]
    EXCESS_RATE_LIMIT_EXCEEDED = "excess_rate_limit_exceeded"
    # File upload [UPLOAD]
    UPLOAD_COMPLETE = "upload_complete"
    UPLOAD_STORED = "upload_stored"
    UPLOAD_VALIDATION = "upload_validation"
    UPLOAD_DELETE = "upload_delete"
    # Input validation [INPUT]
    INPUT_VALIDATION_FAIL = "input_validation_fail"
    INPUT_VALIDATION_DISCRETE_FAIL = "input_validation_discrete_fail"
    # Malicious behaviour [MALICIOUS]
    MALICIOUS_EXCESS_404 = "malicious_excess_404"
    MALICIOUS_EXTRANEOUS = "malicious_extraneous"
    MALICIOUS_ATTACK_TOOL = "malicious_attack_tool"
    MALICIOUS_CORS = "malicious_cors"
    MALICIOUS_DIRECT_REFERENCE = "malicious_direct_reference"
    # Privilege changes [PRIVILEGE]
    PRIVILEGE_PERMISSIONS_CHANGED = "privilege_permissions_changed"
    # Sensitive data changes [DATA]
    SENSITIVE_CREATE = "sensitive_create"
    SENSITIVE_READ = "sensitive_read"
    SENSITIVE_UPDATE = "sensitive_update"
    SENSITIVE_DELETE = "sensitive_delete"
    # Sequence errors [SEQUENCE]
    SEQUENCE_FAIL = "sequence_fail"
    # Session management [SESSION]
    SESSION_CREATED = "session_created"
    SESSION_RENEWED = "session_renewed"
    SESSION_EXPIRED = "session_expired"
    SESSION_USE_AFTER_EXPIRE = "session_use_after_expire"
    # System events [SYS]
    SYS_STARTUP = "sys_startup"
    SYS_SHUTDOWN = "sys_shutdown"
    SYS_RESTART = "sys_restart"
    SYS_CRASH = "sys_crash"
    SYS_MONITOR_DISABLED = "sys_monitor_disabled"
    SYS_MONITOR_ENABLED = "sys_monitor_enabled"
    # User management [USER]
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_ARCHIVED = "user_archived"
    USER_DELETED = "user_deleted"

    @property
    def spec(self) -> ActionSpec:
        """The level and ECS categorisation of this action."""
        return _SPECS[self]

    @classmethod
    def family_members(cls, family: str) -> list[Action]:
        """Every action of one vocabulary family (``"authn"``, ``"sys"``, ...)."""
        return [a for a in cls if a.spec.family == family]


def _spec(
    family: str,
    level: Level,
    category: str | tuple[str, ...],
    type_: str | tuple[str, ...],
    outcome: Literal["success", "failure", "unknown"] = "unknown",
) -> ActionSpec:
    cat = (category,) if isinstance(category, str) else category
    typ = (type_,) if isinstance(type_, str) else type_
    return ActionSpec(family, level, cat, typ, outcome)


_A = Action
_SPECS: dict[Action, ActionSpec] = {
    _A.HTTP_REQUEST: _spec("http", "INFO", "web", "access"),
    _A.AUTHN_LOGIN_SUCCESS: _spec("authn", "INFO", "authentication", "start", "success"),
    _A.AUTHN_LOGIN_SUCCESSAFTERFAIL: _spec("authn", "INFO", "authentication", "start", "success"),
    _A.AUTHN_LOGIN_FAIL: _spec("authn", "WARN", "authentication", "start", "failure"),
    _A.AUTHN_LOGIN_FAIL_MAX: _spec("authn", "WARN", "authentication", "info", "failure"),
    _A.AUTHN_LOGIN_LOCK: _spec("authn", "WARN", ("authentication", "iam"), ("user", "change")),
    _A.AUTHN_PASSWORD_CHANGE: _spec("authn", "INFO", "iam", ("user", "change"), "success"),
    _A.AUTHN_PASSWORD_CHANGE_FAIL: _spec("authn", "CRITICAL", "iam", ("user", "change"), "failure"),
    _A.AUTHN_IMPOSSIBLE_TRAVEL: _spec(
        "authn", "CRITICAL", ("authentication", "intrusion_detection"), "info"
    ),
    _A.AUTHN_TOKEN_CREATED: _spec("authn", "INFO", "iam", "creation", "success"),
    _A.AUTHN_TOKEN_REVOKED: _spec("authn", "INFO", "iam", "deletion", "success"),
    _A.AUTHN_TOKEN_REUSE: _spec(
        "authn", "CRITICAL", ("authentication", "intrusion_detection"), "denied", "failure"
    ),
    _A.AUTHN_TOKEN_DELETE: _spec("authn", "WARN", "iam", "deletion", "success"),
    # ECS expects "denied" under api, intrusion_detection or network, never under web or iam;
    # "api" is ECS's category for calls over REST/RPC, which is what was refused here.
    _A.AUTHZ_FAIL: _spec("authz", "CRITICAL", ("web", "api"), ("access", "denied"), "failure"),
    _A.AUTHZ_CHANGE: _spec("authz", "WARN", "iam", ("user", "change"), "success"),
    _A.AUTHZ_ADMIN: _spec("authz", "WARN", "iam", "admin"),
    _A.CRYPT_DECRYPT_FAIL: _spec("crypt", "WARN", "web", "error", "failure"),
    _A.CRYPT_ENCRYPT_FAIL: _spec("crypt", "WARN", "web", "error", "failure"),
    _A.EXCESS_RATE_LIMIT_EXCEEDED: _spec(
        "excess", "WARN", ("web", "intrusion_detection"), "denied", "failure"
    ),
    _A.UPLOAD_COMPLETE: _spec("upload", "INFO", "file", "creation", "success"),
    _A.UPLOAD_STORED: _spec("upload", "INFO", "file", ("creation", "change"), "success"),
    # The cheat sheet says INFO|CRITICAL: INFO when it passes; the audit API raises a failed scan
    # to CRITICAL.
    _A.UPLOAD_VALIDATION: _spec("upload", "INFO", ("file", "malware"), "info"),
    _A.UPLOAD_DELETE: _spec("upload", "INFO", "file", "deletion", "success"),
    _A.INPUT_VALIDATION_FAIL: _spec("input", "WARN", "web", "error", "failure"),
    _A.INPUT_VALIDATION_DISCRETE_FAIL: _spec(
        "input", "WARN", ("web", "intrusion_detection"), ("error", "denied"), "failure"
    ),
    _A.MALICIOUS_EXCESS_404: _spec("malicious", "WARN", ("web", "intrusion_detection"), "info"),
    _A.MALICIOUS_EXTRANEOUS: _spec("malicious", "CRITICAL", ("web", "intrusion_detection"), "info"),
    _A.MALICIOUS_ATTACK_TOOL: _spec(
        "malicious", "CRITICAL", ("web", "intrusion_detection"), "info"
    ),
    _A.MALICIOUS_CORS: _spec("malicious", "CRITICAL", ("web", "intrusion_detection"), "denied"),
    _A.MALICIOUS_DIRECT_REFERENCE: _spec(
        "malicious", "CRITICAL", ("web", "intrusion_detection"), "denied", "failure"
    ),
    _A.PRIVILEGE_PERMISSIONS_CHANGED: _spec("privilege", "WARN", "iam", "change", "success"),
    _A.SENSITIVE_CREATE: _spec("sensitive", "WARN", "file", "creation", "success"),
    _A.SENSITIVE_READ: _spec("sensitive", "WARN", "file", "access", "success"),
    _A.SENSITIVE_UPDATE: _spec("sensitive", "WARN", "file", "change", "success"),
    _A.SENSITIVE_DELETE: _spec("sensitive", "WARN", "file", "deletion", "success"),
    _A.SEQUENCE_FAIL: _spec(
        "sequence", "CRITICAL", ("web", "intrusion_detection"), "denied", "failure"
    ),
    _A.SESSION_CREATED: _spec("session", "INFO", "session", "start", "success"),
    _A.SESSION_RENEWED: _spec("session", "INFO", "session", "info", "success"),
    _A.SESSION_EXPIRED: _spec("session", "INFO", "session", "end"),
    _A.SESSION_USE_AFTER_EXPIRE: _spec(
        "session", "CRITICAL", ("session", "intrusion_detection"), "denied", "failure"
    ),
    _A.SYS_STARTUP: _spec("sys", "WARN", "host", "start"),
    _A.SYS_SHUTDOWN: _spec("sys", "WARN", "host", "end"),
    _A.SYS_RESTART: _spec("sys", "WARN", "host", ("end", "start")),
    _A.SYS_CRASH: _spec("sys", "WARN", "host", "end", "failure"),
    _A.SYS_MONITOR_DISABLED: _spec("sys", "WARN", "configuration", "change"),
    _A.SYS_MONITOR_ENABLED: _spec("sys", "WARN", "configuration", "change"),
    _A.USER_CREATED: _spec("user", "WARN", "iam", ("user", "creation"), "success"),
    _A.USER_UPDATED: _spec("user", "WARN", "iam", ("user", "change"), "success"),
    _A.USER_ARCHIVED: _spec("user", "WARN", "iam", ("user", "change"), "success"),
    _A.USER_DELETED: _spec("user", "WARN", "iam", ("user", "deletion"), "success"),
}
