"""``apiwatch.audit``: the security-event API (see `apiwatch.sensor.audit`)."""

from apiwatch.sensor import audit as _impl
from apiwatch.sensor.audit import *  # noqa: F403 - this module is the public alias

__all__ = _impl.__all__
