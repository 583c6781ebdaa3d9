"""Waiting in a test for something another thread or process does: poll a condition, never sleep
a guessed time. Every test that waits imports these two.

- `wait_until` gives the condition's first truthy value, or its last falsy one once ``timeout``
  has passed: for ``assert wait_until(...), details_worth_showing``.
- `wait_for` gives the first truthy value or fails the test with ``not within N s: what``.
- `answers_ready` waits for a started server process's ``/readyz`` to answer 200.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Final, TypeVar

import httpx

__all__ = ["WAIT", "answers_ready", "wait_for", "wait_until"]

WAIT: Final = 20.0
"""How long `wait_for` waits by default: a loaded CI machine's worst case, not a test's pace."""

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 5.0, every: float = 0.01) -> T:
    """``condition()``'s first truthy value, checked every ``every`` seconds; else the value of
    its last check, the first one made once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(every)


def wait_for(condition: Callable[[], T], what: str, timeout: float = WAIT, every: float = 0.1) -> T:
    """``condition()``'s first truthy value; AssertionError ``not within {timeout} s: {what}``
    when there is none after ``timeout`` seconds."""
    found = wait_until(condition, timeout, every)
    if not found:
        raise AssertionError(f"not within {timeout:g} s: {what}")
    return found


def answers_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """Whether ``url``'s ``/readyz`` answered 200 within ``timeout`` seconds, while ``process``
    (the server) still ran; the caller says what failed."""

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            return True
        time.sleep(0.1)
    return False
