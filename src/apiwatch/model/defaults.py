"""What every event of one OWASP action says, built once: the sensor and the traffic simulator
both stamp events from these (shared, never mutated), so the two can never drift apart."""

from __future__ import annotations

from typing import Final

from apiwatch.model.event import Log
from apiwatch.model.vocabulary import Action

__all__ = ["ACTION_DEFAULTS", "ActionDefaults"]


class ActionDefaults:
    """The fixed fields of an event of ``action``: ECS category, type, severity, log level and,
    unless it depends on the status code, the outcome."""

    __slots__ = ("action", "category", "log", "outcome", "severity", "type")

    def __init__(self, action: Action) -> None:
        spec = action.spec
        self.action = action.value
        self.category = list(spec.category)
        self.type = list(spec.type)
        self.severity = spec.severity
        self.log = Log(level=spec.level.lower(), logger="apiwatch.events")
        # Plain requests and tool sightings take their outcome from the status code.
        mixed = action in (Action.HTTP_REQUEST, Action.MALICIOUS_ATTACK_TOOL)
        self.outcome: str | None = None if mixed else spec.outcome


ACTION_DEFAULTS: Final = {action: ActionDefaults(action) for action in Action}
