"""The apps the worker-kill tests serve: Flask (WSGI) and FastAPI (ASGI) shipping to a collector.

Factories configured from the environment, for gunicorn and uvicorn to call by name:
``APIWATCH_TEST_COLLECTOR``, ``APIWATCH_TEST_KEY`` and ``APIWATCH_TEST_SPOOL``. The sensor ships
only (no log output), as a production app sending to apiwatch would.
"""

from __future__ import annotations

import os
from typing import Any

import flask
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from apiwatch.sensor import ApiwatchMiddleware
from apiwatch.sensor.flask import init_app


def _options() -> dict[str, Any]:
    return {
        "service": "shop",
        "collector": os.environ["APIWATCH_TEST_COLLECTOR"],
        "api_key": os.environ["APIWATCH_TEST_KEY"],
        "spool_dir": os.environ["APIWATCH_TEST_SPOOL"],
        "outputs": [],
    }


def make_flask() -> flask.Flask:
    """The Flask app (gunicorn: ``'tests.reliability.shipping_app:make_flask()'``)."""
    app = flask.Flask("shop")

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    init_app(app, **_options())
    return app


def make_fastapi() -> FastAPI:
    """The FastAPI app (``uvicorn --factory``; gunicorn: ``...:make_fastapi()``)."""
    app = FastAPI()

    @app.get("/ping", response_class=PlainTextResponse)
    def ping() -> str:
        return "pong"

    app.add_middleware(ApiwatchMiddleware, **_options())
    return app
