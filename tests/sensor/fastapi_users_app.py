"""FastAPI-Users' documented SQLAlchemy example (JWT bearer and cookie backends), with the sensor.

The two apiwatch lines: ``ApiwatchUserManager`` first in ``UserManager``'s bases, and
``ApiwatchMiddleware`` on the app. The database is SQLite (aiosqlite) in a file of the test's.

No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at runtime.
"""

import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from apiwatch.sensor import ApiwatchMiddleware
from apiwatch.sensor.fastapi_users import ApiwatchUserManager

SECRET = "test-only-secret-long-enough-for-hs256-signing"


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


class UserManager(ApiwatchUserManager, UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET
    reset_tokens: dict[str, str] = {}  # noqa: RUF012 - the test reads the mailed token here

    async def on_after_forgot_password(self, user: User, token: str, request: Any = None) -> None:
        self.reset_tokens[user.email] = token  # the app would e-mail it


def build(database: str, **options: Any) -> FastAPI:
    """The example app on SQLite file ``database``; ``options`` go to the middleware."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncGenerator[AsyncSession, None]:
        async with sessions() as session:
            yield session

    async def get_user_db(
        session: AsyncSession = Depends(get_session),  # noqa: B008 - FastAPI's idiom
    ) -> AsyncGenerator[SQLAlchemyUserDatabase, None]:
        yield SQLAlchemyUserDatabase(session, User)

    async def get_user_manager(
        user_db: SQLAlchemyUserDatabase = Depends(get_user_db),  # noqa: B008
    ) -> AsyncGenerator[UserManager, None]:
        yield UserManager(user_db)

    def get_jwt_strategy() -> JWTStrategy:  # type: ignore[type-arg]
        return JWTStrategy(secret=SECRET, lifetime_seconds=3600)

    jwt = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=get_jwt_strategy,
    )
    cookie = AuthenticationBackend(
        name="cookie",
        transport=CookieTransport(cookie_max_age=3600, cookie_secure=False),
        get_strategy=get_jwt_strategy,
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [jwt, cookie])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(users.get_auth_router(jwt), prefix="/auth/jwt")
    app.include_router(users.get_auth_router(cookie), prefix="/auth/cookie")
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/auth")
    app.include_router(users.get_reset_password_router(), prefix="/auth")
    app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/users")
    options.setdefault("service", "users")
    app.add_middleware(ApiwatchMiddleware, **options)
    return app
