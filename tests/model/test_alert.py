"""The typed contracts an incident carries as text: exposed objects and attack kinds."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from apiwatch.model import ATTACK_TAG, ExposedObject, Incident, attack_tag

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_exposed_object_is_written_route_equals_id() -> None:
    """An `ExposedObject` is written ``route=id``, the form records have always carried."""
    assert str(ExposedObject("/orders/{id}", "42")) == "/orders/{id}=42"


def test_an_exposed_object_reads_back_from_its_text() -> None:
    """``route=id`` text reads back to the same object; the id is after the last ``=``."""
    assert ExposedObject.parse("/orders/{id}=42") == ExposedObject("/orders/{id}", "42")
    assert ExposedObject.parse("/q?a=b=7") == ExposedObject("/q?a=b", "7")


def test_attack_kinds_are_incident_tags() -> None:
    """An attack kind is the tag ``apiwatch.attack.<kind>``; `Incident.attacks` reads them back."""
    assert attack_tag("token_reuse") == "apiwatch.attack.token_reuse" == ATTACK_TAG + "token_reuse"
    incident = Incident(
        id="inc-1",
        title="t",
        severity="high",
        first_seen=T,
        last_seen=T,
        tags=[attack_tag("brute_force"), "attack.credential-access", attack_tag("token_reuse")],
        objects_exposed=["/orders/{id}=1", "/users/{id}/profile=2"],
    )
    assert incident.attacks == ("brute_force", "token_reuse")
    assert incident.exposed == (
        ExposedObject("/orders/{id}", "1"),
        ExposedObject("/users/{id}/profile", "2"),
    )


def test_the_typed_views_add_nothing_to_the_record() -> None:
    """`Incident.attacks` and `Incident.exposed` are views: the JSON record keeps its keys."""
    incident = Incident(id="inc-1", title="t", severity="high", first_seen=T, last_seen=T)
    assert set(msgspec.to_builtins(incident)) == {
        "id",
        "title",
        "severity",
        "first_seen",
        "last_seen",
    }
