"""The demo's sample API (FastAPI). Imported only when the demo extra is installed.

It answers for real from a simulated world (`apiwatch.simulate.Scenario`): accounts and their
passwords, bearer tokens and whose they are, orders and their owners. A login with the right
password succeeds (401 otherwise), an order is 200 for its owner (and for support staff,
``support.*`` accounts), 403 for anyone else and 404 when it does not exist, so replaying a
scenario's attacks gives the app's real answers, not scripted ones. It has one deliberate bug:
the orders the scenario's object-enumeration attack is meant to find skip the owner check.

No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.
"""

from typing import Any

from fastapi import FastAPI, HTTPException, Request

from apiwatch.sensor import ApiwatchMiddleware
from apiwatch.simulate import TOKEN_KEY, Scenario

__all__ = ["build_shop"]


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2]


def build_shop(scenario: Scenario, **sensor_options: Any) -> Any:
    """The sample API over ``scenario``'s accounts, tokens and orders, behind the sensor."""
    app = FastAPI(title="shop (apiwatch demo)")
    accounts, tokens, orders = scenario.accounts, scenario.tokens, scenario.orders
    user_ids = scenario.user_ids
    staff = {name for name in accounts if name.startswith("support.")}  # may read every order
    # The shop's BOLA bug: these orders skip the owner check (what the scenario's enumeration
    # attack finds). apiwatch should name exactly them as exposed.
    leaky = {int(obj.id) for attack in scenario.truth.attacks for obj in attack.exposed}

    def owner(request: Request) -> str:
        account = tokens.get(_bearer(request))
        if account is None:
            raise HTTPException(status_code=401, detail="authentication required")
        return account

    async def login(request: Request) -> dict[str, str]:
        body = await request.json()
        name = str(body.get("username", ""))
        if name not in accounts or accounts[name] != body.get("password"):
            raise HTTPException(status_code=401, detail="invalid credentials")
        token = next((t for t, who in tokens.items() if who == name), "")
        return {"token": token}

    async def password_reset(request: Request) -> dict[str, str]:
        await request.body()
        return {"status": "if the account exists, a reset link was sent"}

    def order(id: int, request: Request) -> dict[str, int]:
        account = owner(request)
        if id not in orders:
            raise HTTPException(status_code=404, detail="no such order")
        if orders[id] != account and account not in staff and id not in leaky:
            raise HTTPException(status_code=403, detail="not your order")
        return {"order": id}

    def profile(id: int, request: Request) -> dict[str, int]:
        account = owner(request)
        if user_ids.get(account) != id and account not in staff:
            raise HTTPException(status_code=403, detail="not your profile")
        return {"user": id}

    def products(q: str = "") -> dict[str, list[str]]:
        return {"products": [], "query": [q[:100]]}

    def health() -> dict[str, str]:
        return {"status": "ok"}

    def user_hook(scope: dict[str, Any]) -> tuple[str | None, str | None] | None:
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")[2]
        account = tokens.get(token)
        return (account, None) if account else None

    app.add_api_route("/users/login", login, methods=["POST"])
    app.add_api_route("/users/password-reset", password_reset, methods=["POST"])
    app.add_api_route("/orders/{id}", order, methods=["GET"])
    app.add_api_route("/users/{id}/profile", profile, methods=["GET"])
    app.add_api_route("/products", products, methods=["GET"])
    app.add_api_route("/health", health, methods=["GET"])
    app.add_middleware(
        ApiwatchMiddleware,
        service="shop",
        login_paths={"/users/login": "username"},
        trusted_proxies=["127.0.0.1/32"],
        token_key=TOKEN_KEY,
        user_hook=user_hook,
        **sensor_options,
    )
    return app
