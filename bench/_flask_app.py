"""The app of `ship_overhead.py`: Flask under gunicorn, bare, logging events to stderr, or
logging to stderr and shipping to a collector (``APIWATCH_BENCH_VARIANT``)."""

from __future__ import annotations

import os

import flask

from apiwatch.sensor.flask import init_app


def make() -> flask.Flask:
    """gunicorn ``'_flask_app:make()'``; the variant and collector come from the environment."""
    app = flask.Flask("bench")

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    variant = os.environ["APIWATCH_BENCH_VARIANT"]
    if variant == "stderr":
        init_app(app, service="bench")
    elif variant == "shipping":
        init_app(
            app,
            service="bench",
            collector=os.environ["APIWATCH_BENCH_COLLECTOR"],
            api_key=os.environ["APIWATCH_BENCH_KEY"],
            spool_dir=os.environ["APIWATCH_BENCH_SPOOL"],
        )
    return app
