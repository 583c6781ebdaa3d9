"""apiwatch: security logging and monitoring for Python APIs (OWASP API10).

The in-app sensor is `apiwatch.sensor`; the security-event API is `apiwatch.audit`; the records
every layer shares are in `apiwatch.model`.
"""

from apiwatch.model import Action, ApiwatchError, ConfigError, Event, EventDecodeError

__version__ = "0.1.0"

__all__ = ["Action", "ApiwatchError", "ConfigError", "Event", "EventDecodeError", "__version__"]
