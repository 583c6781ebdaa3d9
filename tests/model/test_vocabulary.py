"""The OWASP Application Logging Vocabulary as `Action`, and its ECS categorisation."""

from __future__ import annotations

import dataclasses
import re

import pytest

from apiwatch.model import Action, ActionSpec, vocabulary

# Every event name of the OWASP Application Logging Vocabulary Cheat Sheet, in the cheat sheet's
# order, with the level it gives ("INFO|CRITICAL" for upload_validation is INFO: a passed scan).
OWASP_LEVELS: dict[str, str] = {
    "authn_login_success": "INFO",
    "authn_login_successafterfail": "INFO",
    "authn_login_fail": "WARN",
    "authn_login_fail_max": "WARN",
    "authn_login_lock": "WARN",
    "authn_password_change": "INFO",
    "authn_password_change_fail": "CRITICAL",
    "authn_impossible_travel": "CRITICAL",
    "authn_token_created": "INFO",
    "authn_token_revoked": "INFO",
    "authn_token_reuse": "CRITICAL",
    "authn_token_delete": "WARN",
    "authz_fail": "CRITICAL",
    "authz_change": "WARN",
    "authz_admin": "WARN",
    "crypt_decrypt_fail": "WARN",
    "crypt_encrypt_fail": "WARN",
    "excess_rate_limit_exceeded": "WARN",
    "upload_complete": "INFO",
    "upload_stored": "INFO",
    "upload_validation": "INFO",
    "upload_delete": "INFO",
    "input_validation_fail": "WARN",
    "input_validation_discrete_fail": "WARN",
    "malicious_excess_404": "WARN",
    "malicious_extraneous": "CRITICAL",
    "malicious_attack_tool": "CRITICAL",
    "malicious_cors": "CRITICAL",
    "malicious_direct_reference": "CRITICAL",
    "privilege_permissions_changed": "WARN",
    "sensitive_create": "WARN",
    "sensitive_read": "WARN",
    "sensitive_update": "WARN",
    "sensitive_delete": "WARN",
    "sequence_fail": "CRITICAL",
    "session_created": "INFO",
    "session_renewed": "INFO",
    "session_expired": "INFO",
    "session_use_after_expire": "CRITICAL",
    "sys_startup": "WARN",
    "sys_shutdown": "WARN",
    "sys_restart": "WARN",
    "sys_crash": "WARN",
    "sys_monitor_disabled": "WARN",
    "sys_monitor_enabled": "WARN",
    "user_created": "WARN",
    "user_updated": "WARN",
    "user_archived": "WARN",
    "user_deleted": "WARN",
}
OWASP_NAMES = list(OWASP_LEVELS)

FAMILIES = [
    "authn",
    "authz",
    "crypt",
    "excess",
    "upload",
    "input",
    "malicious",
    "privilege",
    "sensitive",
    "sequence",
    "session",
    "sys",
    "user",
]

# ECS event.category allowed values, each with the event.type values ECS expects with it
# (ECS 8.8+, where file gained "access").
ECS_EXPECTED_TYPES: dict[str, set[str]] = {
    "api": {"access", "admin", "allowed", "change", "creation", "deletion", "denied", "end",
            "info", "start", "user"},
    "authentication": {"start", "end", "info"},
    "configuration": {"access", "change", "creation", "deletion", "info"},
    "database": {"access", "change", "info", "error"},
    "driver": {"change", "end", "info", "start"},
    "email": {"info"},
    "file": {"access", "change", "creation", "deletion", "info"},
    "host": {"access", "change", "end", "info", "start"},
    "iam": {"admin", "change", "creation", "deletion", "group", "info", "user"},
    "intrusion_detection": {"allowed", "denied", "info"},
    "library": {"start"},
    "malware": {"info"},
    "network": {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"},
    "package": {"access", "change", "deletion", "info", "installation", "start"},
    "process": {"access", "change", "end", "info", "start"},
    "registry": {"access", "change", "creation", "deletion"},
    "session": {"start", "end", "info"},
    "threat": {"indicator"},
    "vulnerability": {"info"},
    "web": {"access", "error", "info"},
}  # fmt: skip
ECS_CATEGORIES = set(ECS_EXPECTED_TYPES)
ECS_TYPES = {
    "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end",
    "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
}  # fmt: skip
ECS_OUTCOMES = {"success", "failure", "unknown"}

ALL_ACTIONS = list(Action)


def test_owasp_list_is_complete_as_written() -> None:
    """The list written here holds all 49 names of the cheat sheet, each once, in 13 families."""
    assert len(OWASP_NAMES) == 49
    assert {name.split("_")[0] for name in OWASP_NAMES} == set(FAMILIES)


def test_action_is_exactly_the_vocabulary_plus_http_request() -> None:
    """`Action` holds every cheat-sheet event name, plus ``http_request``, and nothing else."""
    assert {a.value for a in Action} == {*OWASP_NAMES, "http_request"}
    assert len(Action) == len(OWASP_NAMES) + 1


def test_action_order_follows_the_cheat_sheet() -> None:
    """Vocabulary actions are declared in the cheat sheet's order, after ``http_request``."""
    assert [a.value for a in Action] == ["http_request", *OWASP_NAMES]


def test_member_names_are_upper_case_values() -> None:
    """Each member is named by its value in upper case (``Action.AUTHN_LOGIN_FAIL``)."""
    for action in Action:
        assert action.name == action.value.upper()


def test_action_is_its_string_value() -> None:
    """An `Action` is a str equal to its vocabulary name and is looked up by it."""
    assert Action.AUTHZ_FAIL == "authz_fail"
    assert isinstance(Action.AUTHZ_FAIL, str)
    assert f"{Action.SYS_STARTUP}" == "sys_startup"
    assert Action("authn_login_fail") is Action.AUTHN_LOGIN_FAIL


def test_unknown_name_is_not_an_action() -> None:
    """A name outside the vocabulary is rejected with ValueError."""
    with pytest.raises(ValueError, match="authn_login_maybe"):
        Action("authn_login_maybe")


@pytest.mark.parametrize(("name", "level"), OWASP_LEVELS.items())
def test_level_matches_the_cheat_sheet(name: str, level: str) -> None:
    """Each action's level is the one the cheat sheet gives it."""
    assert Action(name).spec.level == level


@pytest.mark.parametrize(
    ("action", "level"),
    [
        (Action.AUTHN_LOGIN_FAIL, "WARN"),
        (Action.AUTHN_PASSWORD_CHANGE_FAIL, "CRITICAL"),
        (Action.AUTHZ_FAIL, "CRITICAL"),
        (Action.MALICIOUS_ATTACK_TOOL, "CRITICAL"),
        (Action.SYS_STARTUP, "WARN"),
        (Action.SESSION_CREATED, "INFO"),
        (Action.HTTP_REQUEST, "INFO"),
    ],
)
def test_representative_levels(action: Action, level: str) -> None:
    """Spot checks of levels a reader knows by heart, ``http_request`` included."""
    assert action.spec.level == level


def test_severity_follows_level() -> None:
    """`ActionSpec.severity` is the logging number of the level: INFO 20, WARN 30, CRITICAL 50."""
    numbers = {"INFO": 20, "WARN": 30, "CRITICAL": 50}
    for action in Action:
        assert action.spec.severity == numbers[action.spec.level]


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=str)
def test_categories_and_types_are_ecs_allowed_values(action: Action) -> None:
    """Every action has at least one category and type, each an ECS allowed value, none twice."""
    spec = action.spec
    assert spec.category
    assert spec.type
    assert set(spec.category) <= ECS_CATEGORIES
    assert set(spec.type) <= ECS_TYPES
    assert len(set(spec.category)) == len(spec.category)
    assert len(set(spec.type)) == len(spec.type)


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=str)
def test_every_type_is_expected_for_one_of_the_categories(action: Action) -> None:
    """Each event.type is one ECS expects for at least one of the action's categories.

    This is the rule Elastic's package validation applies ("not one of the expected values ...
    for any of the values of event.category").
    """
    spec = action.spec
    expected = set().union(*(ECS_EXPECTED_TYPES[c] for c in spec.category))
    assert set(spec.type) <= expected, f"{action}: {spec.category} x {spec.type}"


def test_expected_types_table_uses_only_allowed_types() -> None:
    """The per-category table written here only names allowed ECS event.type values."""
    assert set().union(*ECS_EXPECTED_TYPES.values()) == ECS_TYPES


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=str)
def test_outcome_is_an_ecs_outcome(action: Action) -> None:
    """Every action's outcome is one of ECS's event.outcome values."""
    assert action.spec.outcome in ECS_OUTCOMES


_FAILS = [a for a in Action if re.search(r"_fail(_|$)", a.value)]


def test_fail_actions_are_the_expected_ones() -> None:
    """The *_fail actions are the nine names of the cheat sheet ending in (or holding) ``_fail``."""
    assert {a.value for a in _FAILS} == {
        "authn_login_fail",
        "authn_login_fail_max",
        "authn_password_change_fail",
        "authz_fail",
        "crypt_decrypt_fail",
        "crypt_encrypt_fail",
        "input_validation_fail",
        "input_validation_discrete_fail",
        "sequence_fail",
    }


@pytest.mark.parametrize("action", _FAILS, ids=str)
def test_fail_actions_have_failure_outcome(action: Action) -> None:
    """Every *_fail action records ``event.outcome: failure``."""
    assert action.spec.outcome == "failure"


@pytest.mark.parametrize(
    "action",
    [Action.AUTHN_LOGIN_SUCCESS, Action.AUTHN_LOGIN_SUCCESSAFTERFAIL, Action.SESSION_CREATED],
    ids=str,
)
def test_success_actions_have_success_outcome(action: Action) -> None:
    """Successful logins (after failures too) and new sessions record ``success``."""
    assert action.spec.outcome == "success"


def test_login_actions_are_authentication_events() -> None:
    """Login success and failure are ECS authentication/start events, the pair SIEM rules key on."""
    for action in (Action.AUTHN_LOGIN_SUCCESS, Action.AUTHN_LOGIN_FAIL):
        assert action.spec.category == ("authentication",)
        assert action.spec.type == ("start",)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_members_are_the_family_names(family: str) -> None:
    """`Action.family_members` gives the family's cheat-sheet names, in cheat-sheet order."""
    members = Action.family_members(family)
    assert [a.value for a in members] == [n for n in OWASP_NAMES if n.startswith(f"{family}_")]
    assert members
    assert all(a.spec.family == family for a in members)


def test_families_partition_the_vocabulary() -> None:
    """The 13 families together hold every vocabulary action exactly once."""
    members = [a for family in FAMILIES for a in Action.family_members(family)]
    assert len(members) == len(set(members)) == len(OWASP_NAMES)
    assert {a.spec.family for a in Action} == {*FAMILIES, "http"}
    assert Action.family_members("http") == [Action.HTTP_REQUEST]


def test_unknown_family_has_no_members() -> None:
    """A family name outside the vocabulary has no members (and is no error)."""
    assert Action.family_members("authentication") == []


def test_every_action_has_a_spec() -> None:
    """`Action.spec` is defined for every member, as an `ActionSpec`."""
    for action in Action:
        assert isinstance(action.spec, ActionSpec)


def test_spec_is_immutable() -> None:
    """An `ActionSpec` cannot be changed in place (it is shared by every event of that action)."""
    spec = Action.AUTHZ_FAIL.spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.level = "INFO"  # type: ignore[misc]


def test_the_models_ecs_allowed_values_are_the_ones_written_here() -> None:
    """The model's allowed categorization values (what ingest enforces) are ECS's, as listed
    here; ECS 8.x's newer type ``device`` is allowed too."""
    assert vocabulary.ECS_CATEGORIES == ECS_CATEGORIES
    assert ECS_TYPES | {"device"} == vocabulary.ECS_TYPES
    assert vocabulary.ECS_OUTCOMES == ECS_OUTCOMES
