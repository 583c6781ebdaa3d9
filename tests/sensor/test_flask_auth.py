"""Flask-Login and Flask-Security, heard by the sensor, through Flask's test client.

The Flask-Login app is the library's documented example (its README); the Flask-Security app is
its documented SQLAlchemy quick start, on in-memory SQLite. A wrong password is
``authn_login_fail`` naming the account, the right one ``authn_login_success``, a logout
``session_expired`` (reason ``logout``), a password change ``authn_password_change``; a failed
login is never a success, though both answer it with 200 and the form, or a redirect.
"""

from __future__ import annotations

from typing import Any

import pytest

from apiwatch.sensor import MemoryOutput

from .conftest import decoded

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a whole new staple, battered"
LOGINS = {"authn_login_fail", "authn_login_success"}


def flask_login_example(*, login_view: bool = False, **options: Any) -> Any:
    """Flask-Login's README example, with the sensor added by one line (``init_app``)."""
    import flask
    import flask_login

    from apiwatch.sensor.flask import init_app

    app = flask.Flask(__name__)
    app.secret_key = "super secret string"
    login_manager = flask_login.LoginManager()
    login_manager.init_app(app)
    if login_view:
        login_manager.login_view = "login"
    users = {"foo@bar.tld": {"password": PASSWORD}}

    class User(flask_login.UserMixin):  # type: ignore[misc]
        pass

    @login_manager.user_loader
    def user_loader(email: str) -> Any:
        if email not in users:
            return None
        user = User()
        user.id = email
        return user

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if flask.request.method == "GET":
            return "<form action='login' method='POST'>...</form>"
        email = flask.request.form["email"]
        if email in users and flask.request.form["password"] == users[email]["password"]:
            user = User()
            user.id = email
            flask_login.login_user(user)
            return flask.redirect(flask.url_for("protected"))
        return "Bad login"

    @app.route("/protected")
    @flask_login.login_required
    def protected() -> Any:
        return "Logged in as: " + flask_login.current_user.id

    @app.route("/logout")
    def logout() -> Any:
        flask_login.logout_user()
        return "Logged out"

    init_app(app, service="example", **options)
    return app


def _logins(memory: MemoryOutput) -> list[tuple[str, str | None]]:
    found = [
        (e["event"]["action"], e.get("user", {}).get("name"))
        for e in decoded(memory)
        if e["event"]["action"] in LOGINS
    ]
    memory.clear()
    return found


def _only(memory: MemoryOutput, action: str) -> dict[str, Any]:
    [event] = [e for e in decoded(memory) if e["event"]["action"] == action]
    memory.clear()
    return event


def test_flask_login_example(memory: MemoryOutput) -> None:
    """Flask-Login's example with its login route configured: "Bad login" (200) is a failure,
    the redirect after login_user() a success, logout_user() a logout."""
    app = flask_login_example(login_paths={"/login": "email"}, outputs=[memory])
    client = app.test_client()
    wrong = {"email": "foo@bar.tld", "password": "guess"}
    assert client.post("/login", data=wrong, buffered=True).status_code == 200
    assert _logins(memory) == [("authn_login_fail", "foo@bar.tld")]
    right = {"email": "foo@bar.tld", "password": PASSWORD}
    assert client.post("/login", data=right, buffered=True).status_code == 302
    assert _logins(memory) == [("authn_login_success", "foo@bar.tld")]
    client.get("/logout", buffered=True)
    logout = _only(memory, "session_expired")
    assert (logout["user"]["id"], logout["event"]["reason"]) == ("foo@bar.tld", "logout")


def test_flask_login_redirect_without_login_user_is_a_failure(memory: MemoryOutput) -> None:
    """An app that redirects a failed login back to its form: no login_user(), so a failure."""
    import flask

    app = flask_login_example(login_paths={"/login": "email"}, outputs=[memory])

    def login() -> Any:
        flask.flash(f"Wrong password for {flask.request.form['email']}")
        return flask.redirect("/login")

    app.view_functions["login"] = login
    wrong = {"email": "foo@bar.tld", "password": "guess"}
    assert app.test_client().post("/login", data=wrong, buffered=True).status_code == 302
    assert _logins(memory) == [("authn_login_fail", "foo@bar.tld")]


def test_flask_login_view_needs_no_configuration(memory: MemoryOutput) -> None:
    """With login_manager.login_view set, no login_paths is needed: a POST to it is a login,
    its account read from the form."""
    app = flask_login_example(login_view=True, outputs=[memory])
    client = app.test_client()
    client.post("/login", data={"email": "eve@bar.tld", "password": "guess"}, buffered=True)
    assert _logins(memory) == [("authn_login_fail", "eve@bar.tld")]
    client.post("/login", data={"email": "foo@bar.tld", "password": PASSWORD}, buffered=True)
    assert _logins(memory) == [("authn_login_success", "foo@bar.tld")]


@pytest.fixture(scope="module")
def security_app() -> Any:
    """Flask-Security's SQLAlchemy quick start; the sensor writes to ``app.config["OUTPUT"]``."""
    import flask
    from flask_security import Security, SQLAlchemyUserDatastore, hash_password
    from flask_security.models import fsqla_v3 as fsqla
    from flask_sqlalchemy import SQLAlchemy

    from apiwatch.sensor.flask import init_app

    app = flask.Flask(__name__)
    app.config.update(
        SECRET_KEY="test-only",
        SECURITY_PASSWORD_SALT="test-only-salt",
        SECURITY_PASSWORD_HASH="plaintext",  # fast, tests only
        SECURITY_CHANGEABLE=True,
        SECURITY_SEND_PASSWORD_CHANGE_EMAIL=False,
        SQLALCHEMY_DATABASE_URI="sqlite://",
        WTF_CSRF_ENABLED=False,
    )
    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
        pass

    class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
        pass

    datastore = SQLAlchemyUserDatastore(db, User, Role)
    app.security = Security(app, datastore)
    memory = MemoryOutput()
    app.config["OUTPUT"] = memory
    init_app(app, service="secure", outputs=[memory])
    with app.app_context():
        db.create_all()
        datastore.create_user(email="amy@example.org", password=hash_password(PASSWORD))
        db.session.commit()
    return app


@pytest.fixture
def security(security_app: Any) -> tuple[Any, MemoryOutput]:
    memory: MemoryOutput = security_app.config["OUTPUT"]
    memory.clear()
    return security_app.test_client(), memory


@pytest.mark.parametrize("as_json", [True, False])
def test_flask_security_login_and_logout(security: tuple[Any, MemoryOutput], as_json: bool) -> None:
    """Flask-Security's /login with no configuration: a wrong password (form: 200 and the form
    again; JSON: 400), an unknown account, and the right password; then /logout."""
    client, memory = security

    def login(email: str, password: str) -> Any:
        body = {"email": email, "password": password}
        if as_json:
            return client.post("/login", json=body, buffered=True)
        return client.post("/login", data=body, buffered=True)

    login("amy@example.org", "guess")
    login("nobody@example.org", "guess")
    assert _logins(memory) == [
        ("authn_login_fail", "amy@example.org"),
        ("authn_login_fail", "nobody@example.org"),
    ]
    assert login("amy@example.org", PASSWORD).status_code in (200, 302)
    assert _logins(memory) == [("authn_login_success", "amy@example.org")]
    client.post("/logout", buffered=True)
    assert _only(memory, "session_expired")["user"]["name"] == "amy@example.org"


def test_flask_security_password_change(security: tuple[Any, MemoryOutput]) -> None:
    """/change: authn_password_change for the account, and its automatic re-login is no login."""
    client, memory = security
    client.post("/login", json={"email": "amy@example.org", "password": PASSWORD}, buffered=True)
    memory.clear()
    form = {"password": PASSWORD, "new_password": NEW_PASSWORD}
    response = client.post("/change", json={**form, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 200
    assert _only(memory, "authn_password_change")["user"]["name"] == "amy@example.org"
    back = {"password": NEW_PASSWORD, "new_password": PASSWORD, "new_password_confirm": PASSWORD}
    client.post("/change", json=back)
    assert _logins(memory) == []
