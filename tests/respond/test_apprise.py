"""The apprise notifier, through apprise's json:// service to a real local HTTP receiver."""

from __future__ import annotations

import builtins
import json
from typing import Any

import pytest

from apiwatch.model import ConfigError
from apiwatch.respond import AppriseNotifier, Message, NotifyError

from .helpers import incident
from .receivers import free_port, http_receiver

pytest.importorskip("apprise")

# apprise loads its e-mail plugin, which imports the stdlib's deprecated imghdr on Python 3.11/3.12.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def test_apprise_delivers_through_a_json_url() -> None:
    """A ``json://127.0.0.1:PORT/`` URL posts the title and rendered text to the receiver."""
    case = incident(accounts_compromised=["bob"])
    with http_receiver() as receiver:
        AppriseNotifier(f"json://127.0.0.1:{receiver.port}/").send(
            Message.build(case, base_url="https://aw.example")
        )
        (request,) = receiver.wait_for(1)
    payload = json.loads(request.body)
    assert payload["title"] == "[apiwatch] HIGH incident: Credential stuffing from one source"
    assert "Accounts compromised (1): bob" in payload["message"]
    assert payload["type"] == "failure"  # high and critical incidents


def test_apprise_failure_raises() -> None:
    """A service that is down is a NotifyError naming the notifier."""
    notifier = AppriseNotifier(f"json://127.0.0.1:{free_port()}/", name="chat")
    with pytest.raises(NotifyError, match=r"^chat: apprise could not deliver"):
        notifier.send(Message.build(incident(), base_url="http://x"))


def test_an_unknown_apprise_url_is_a_config_error() -> None:
    """A URL apprise does not accept is refused when the notifier is made."""
    with pytest.raises(ConfigError, match=r"^chat: apprise does not accept this nope:// URL"):
        AppriseNotifier("nope://token@somewhere", name="chat")


def test_a_missing_apprise_extra_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the apprise package, making the notifier says which extra to install."""
    real_import = builtins.__import__

    def no_apprise(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "apprise":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_apprise)
    with pytest.raises(ConfigError, match=r"pip install 'apiwatch\[apprise\]'"):
        AppriseNotifier("json://127.0.0.1/")
