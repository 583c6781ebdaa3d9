"""Foreign log text made safe to hold in an event: non-printable characters become escapes.

Log files are written by the attacker as much as by the server. nginx and Apache already escape
``"``, ``\\`` and bytes outside printable ASCII as ``\\xNN`` (Apache: ``\\"``), and those escapes
are kept verbatim — as data, never decoded. Whatever still is not printable (ESC from a log written
by other tooling, C1 controls, bidi overrides, U+2028, invalid UTF-8 carried as lone surrogates by
the ``surrogateescape`` error handler) is escaped by `apiwatch.model.printable_text`, so no value
can drive a terminal or forge a line when an event is shown or written out.
"""

from __future__ import annotations

from apiwatch.model.text import printable_text as safe

__all__ = ["safe"]
