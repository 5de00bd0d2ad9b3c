"""A FastAPI app whose rows are filtered per bearer token by Row-Level Security.

The app checks no token itself: each request's bearer token goes to
PostgreSQL (``auth.jwt_session_init``), whose RLS policies then see
``auth.user_id()``.  A token the server refuses is a 401; a misconfigured
server (no key, a bad key) stays a 500.  Connections come from a psycopg
pool with the issuer's public key in their startup packet, and go back to
it with no identity attached.

    pip install "pg-session-jwt[examples]" uvicorn
    DATABASE_URL=postgresql://todo_web@localhost/todos JWK="$(cat public.jwk)" \\
        uvicorn --factory app:from_env

(see README.md beside this file).
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, List, Mapping, Optional, Union

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from pg_session_jwt.client import is_token_refusal, jwt_session, with_settings

bearer = HTTPBearer(auto_error=False)
Connection = psycopg.AsyncConnection[DictRow]  # the pool's connections return rows as dicts


class Todo(BaseModel):
    id: int
    owner: str
    task: str


class NewTodo(BaseModel):
    task: str


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def user_connection(
    request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)
) -> AsyncIterator[Connection]:
    """A pooled connection acting as the token's user for this request."""
    if credentials is None:
        raise unauthorized("missing bearer token")
    pool: AsyncConnectionPool[Connection] = request.app.state.pool
    local: bool = request.app.state.local_sessions
    async with pool.connection() as conn, AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(jwt_session(conn, credentials.credentials, local=local))
        except psycopg.Error as e:
            if is_token_refusal(e):  # only the token's refusal: errors of the route itself stay errors
                raise unauthorized(e.diag.message_primary or "invalid token") from None
            raise
        yield conn


def create_app(
    conninfo: str,
    jwk: Union[str, Mapping[str, Any]],
    audience: Optional[str] = None,
    issuer: Optional[str] = None,
    pool_size: int = 4,
    local_sessions: bool = False,
) -> FastAPI:
    """The app, for a database reachable at ``conninfo`` and tokens signed by ``jwk``'s key.

    ``local_sessions``: each request is one transaction with a transaction-local
    session (the server needs ``auth.jwt_session_init(jwt, local)``); tokens of
    different users may then reach a pooled connection in any order.
    """
    dsn = with_settings(conninfo, jwk=jwk, audience=audience, issuer=issuer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(dsn, min_size=1, max_size=pool_size, open=False,
                                       kwargs={"autocommit": True, "row_factory": dict_row}) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(title="todos, filtered by pg_session_jwt", lifespan=lifespan)
    app.state.local_sessions = local_sessions

    @app.get("/me")
    async def me(conn: Connection = Depends(user_connection)) -> Optional[DictRow]:
        cur = await conn.execute("SELECT auth.user_id() AS user_id, auth.session() AS claims")
        return await cur.fetchone()

    @app.get("/todos", response_model=List[Todo])
    async def list_todos(conn: Connection = Depends(user_connection)) -> List[DictRow]:
        cur = await conn.execute("SELECT id, owner, task FROM todos ORDER BY id")
        return await cur.fetchall()

    @app.post("/todos", response_model=Todo, status_code=201)
    async def add_todo(todo: NewTodo, conn: Connection = Depends(user_connection)) -> Optional[DictRow]:
        cur = await conn.execute("INSERT INTO todos (task) VALUES (%s) RETURNING id, owner, task", [todo.task])
        return await cur.fetchone()

    return app


def from_env() -> FastAPI:
    """``uvicorn --factory app:from_env``: DATABASE_URL, JWK; optional AUDIENCE, ISSUER,
    LOCAL_SESSIONS=1."""
    return create_app(os.environ["DATABASE_URL"], os.environ["JWK"], os.environ.get("AUDIENCE"),
                      os.environ.get("ISSUER"), local_sessions=os.environ.get("LOCAL_SESSIONS") == "1")
