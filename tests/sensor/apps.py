"""The sample apps the sensor tests drive: the same small API in FastAPI, Starlette and Flask.

No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at runtime.
"""

from typing import Any

from apiwatch import audit
from apiwatch.sensor import ApiwatchMiddleware

LOGIN = {"/users/login": "username"}
PASSWORD = "correct horse battery staple"


class BoomError(RuntimeError):
    """The app's own exception: the sensor must re-raise it unchanged."""


def fastapi_app(**options: Any) -> Any:
    from fastapi import FastAPI, HTTPException, Request

    app = FastAPI()

    @app.post("/users/login")
    async def login(request: Request) -> dict[str, bool]:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body: Any = await request.json()
        else:
            body = dict(await request.form())
        if body.get("password") != PASSWORD:
            raise HTTPException(status_code=401, detail="bad credentials")
        return {"ok": True}

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> dict[str, int]:
        if user_id == 13:
            raise HTTPException(status_code=403)
        return {"id": user_id}

    @app.get("/boom")
    async def boom() -> None:
        raise BoomError("kaput")

    @app.get("/whoami")
    def whoami() -> dict[str, str]:
        audit.identify("carol", 7)
        audit.sensitive_read("carol", obj="customer/42")
        return {"user": "carol"}

    @app.post("/audited-login")
    async def audited_login(request: Request) -> dict[str, bool]:
        body = await request.json()
        audit.login_failed(body.get("username"), reason="unknown account")
        raise HTTPException(status_code=401)

    options.setdefault("service", "shop")
    options.setdefault("login_paths", {**LOGIN, "/audited-login": "username"})
    app.add_middleware(ApiwatchMiddleware, **options)
    return app


def starlette_app(**options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        SimpleUser,
    )
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    class HeaderAuth(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> Any:
            name = conn.headers.get("x-test-user")
            return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None

    async def order(request: Request) -> JSONResponse:
        return JSONResponse({"order": request.path_params["order_id"]})

    options.setdefault("service", "shop")
    return Starlette(
        routes=[Mount("/api", routes=[Route("/orders/{order_id}", order)])],
        middleware=[
            Middleware(ApiwatchMiddleware, **options),
            Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
        ],
    )


def flask_app(**options: Any) -> Any:
    import flask

    from apiwatch.sensor.flask import init_app

    app = flask.Flask("shop")

    @app.post("/users/login")
    def login() -> Any:
        body = flask.request.get_json(silent=True) or flask.request.form
        if body.get("password") != PASSWORD:
            return {"error": "bad credentials"}, 401
        return {"ok": True}

    @app.get("/users/<int:user_id>")
    def get_user(user_id: int) -> Any:
        flask.g.user = "dave"
        return {"id": user_id}

    @app.get("/boom")
    def boom() -> Any:
        raise BoomError("kaput")

    @app.get("/stream")
    def stream() -> Any:
        return flask.Response((chunk for chunk in (b"a", b"b")), mimetype="text/plain")

    options.setdefault("service", "shop")
    options.setdefault("login_paths", LOGIN)
    init_app(app, **options)
    return app
