"""The demo's sample API (FastAPI). Imported only when the demo extra is installed.

No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.
"""

from typing import Any

from fastapi import FastAPI, HTTPException, Request

from apiwatch.sensor import ApiwatchMiddleware

__all__ = ["USERS", "build_shop"]

USERS = {"alice": "wonderland-42", "bob": "builder-7"}


def build_shop(**sensor_options: Any) -> Any:
    """The sample API: a login route, per-user orders (403 for other people's), health."""
    app = FastAPI(title="shop (apiwatch demo)")

    async def login(request: Request) -> dict[str, str]:
        body = await request.json()
        if USERS.get(body.get("username", "")) != body.get("password"):
            raise HTTPException(status_code=401, detail="invalid credentials")
        return {"token": "demo-token-" + body["username"]}

    def order(order_id: int, request: Request) -> dict[str, int]:
        if order_id % 2:
            raise HTTPException(status_code=403, detail="not your order")
        return {"order": order_id}

    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_api_route("/users/login", login, methods=["POST"])
    app.add_api_route("/orders/{order_id}", order, methods=["GET"])
    app.add_api_route("/health", health, methods=["GET"])
    app.add_middleware(
        ApiwatchMiddleware,
        service="shop",
        login_paths={"/users/login": "username"},
        trusted_proxies=["127.0.0.1/32"],
        **sensor_options,
    )
    return app
