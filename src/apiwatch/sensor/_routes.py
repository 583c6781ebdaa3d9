"""Route templates in one notation, ``/users/{user_id}``, whatever the framework writes."""

from __future__ import annotations

import re

__all__ = ["normalise_route"]

# Flask/Werkzeug ``<int:user_id>`` and Django ``<int:user_id>`` / ``<slug>``.
_ANGLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def normalise_route(template: str) -> str:
    """``/users/<int:user_id>`` -> ``/users/{user_id}``; a leading slash is ensured."""
    route = _ANGLE.sub(r"{\1}", template)
    return route if route.startswith("/") else "/" + route
