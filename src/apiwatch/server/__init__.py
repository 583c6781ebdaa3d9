"""The collector service: authenticated, durable ingest of ECS events, live detection, queries,
health, metrics.

Serve it with any ASGI server over a store from `apiwatch.store.open_store`::

    store = open_store("sqlite:///./apiwatch.db")
    uvicorn.run(create_app(store, ServerSettings()), host="127.0.0.1", port=8470)
    store.close()

`load_ruleset` loads the rules the settings name (`create_app` does it when not given them), so a
caller can refuse a rule error before it opens a store.
"""

from apiwatch.server._detection import load_ruleset
from apiwatch.server.app import create_app
from apiwatch.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "load_ruleset"]
