"""Reference HTTP service: a saved ranker artifact and a dataset behind /health, /recommend, /feed
and /search.

Run it from the repository root::

    python -m apps.service --artifact model.npz --dataset world/ --port 8000

Every answer is JSON. Bad input is a 4xx with ``{"detail": "<what was wrong>"}``: 422 for a missing
or malformed parameter, 404 for an unknown user id, 400 for a malformed feed cursor, 410 for a
cursor of a feed that changed since (new artifact or data: start again without it), 409 when
``/admin/reload`` finds a bad artifact (the old one keeps serving). The ranking
logic lives in :class:`haowurank.serving.RankerService`; this module only presents it.

Configuration (environment):

- ``HAOWURANK_ADMIN_TOKEN``: the token admin endpoints (``POST /admin/reload``) require, sent
  as ``Authorization: Bearer <token>`` (401 without it, 403 with a wrong one). Admin endpoints
  are served only with ``--enable-admin``, which refuses to start without a token.
- ``HAOWURANK_CURSOR_SECRET``: the secret that signs feed cursors (HMAC); without it each
  process draws its own, so set it when several workers serve one feed.
- ``HAOWURANK_SERVICE_DOCS``: ``0`` / ``false`` turns off ``/docs``, ``/redoc`` and
  ``/openapi.json`` (also ``--no-docs``).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import math
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from haowurank import ArtifactError, UnknownIdError
from haowurank.feed import CursorError, StaleCursorError
from haowurank.serving import RankerService

__all__ = ["ADMIN_TOKEN_ENV", "DOCS_ENV", "create_app", "main"]

#: Environment variable holding the token admin endpoints require.
ADMIN_TOKEN_ENV = "HAOWURANK_ADMIN_TOKEN"
#: Environment variable that turns the interactive docs off ("0" or "false").
DOCS_ENV = "HAOWURANK_SERVICE_DOCS"
#: Longest query-string value accepted (user ids, search text, cursors).
MAX_PARAM_CHARS = 1024

log = logging.getLogger("haowurank.service")


class BadRequest(Exception):
    """A request parameter that is missing or malformed (answered 422)."""


def _int_param(raw: str | None, name: str, default: int, hi: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or not 1 <= value <= hi:
        raise BadRequest(f"The '{name}' parameter must be an int in [1, {hi}]. Got {raw!r}.")
    return value


class Unauthorized(Exception):
    """An admin request without the right token (answered 401 or 403)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _bounded(raw: str | None, name: str) -> str | None:
    if raw is not None and (len(raw) > MAX_PARAM_CHARS or "\x00" in raw):
        raise BadRequest(
            f"The '{name}' parameter must be at most {MAX_PARAM_CHARS} characters with no NUL. "
            f"Got {len(raw)} characters."
        )
    return raw


def _required(raw: str | None, name: str) -> str:
    if raw is None or not raw.strip():
        raise BadRequest(f"The '{name}' parameter is required and must not be empty.")
    return _bounded(raw, name)


def _docs_enabled(docs: bool | None) -> bool:
    if docs is not None:
        return bool(docs)
    return os.environ.get(DOCS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _records(frame, columns: list[str]) -> list[dict[str, Any]]:
    cols = {c: frame[c].tolist() for c in columns}
    return [
        {c: (list(map(_jsonable, cols[c][k])) if isinstance(cols[c][k], list)
             else _jsonable(cols[c][k])) for c in columns}
        for k in range(len(frame))
    ]


def create_app(
    artifact_path: str | os.PathLike,
    dataset_path: str | os.PathLike,
    *,
    max_n: int = 200,
    enable_admin: bool = False,
    admin_token: str | None = None,
    docs: bool | None = None,
    **service_kwargs: Any,
) -> FastAPI:
    """The FastAPI app serving one ranker artifact over one dataset.

    Parameters
    ----------
    artifact_path : path
        A ranker saved with ``Ranker.save`` (verified; never unpickled).
    dataset_path : path
        A folder written by ``Dataset.to_parquet``.
    max_n : int
        Largest ``n`` a request may ask for.
    enable_admin : bool
        Also serve ``POST /admin/reload`` (re-read the artifact file and swap it in atomically).
    admin_token : str, optional
        The token admin endpoints require (``Authorization: Bearer <token>``); default: the
        environment variable ``HAOWURANK_ADMIN_TOKEN``. ``enable_admin`` without a token raises
        ``ValueError``.
    docs : bool, optional
        Serve ``/docs``, ``/redoc`` and ``/openapi.json``; default: on unless the environment
        variable ``HAOWURANK_SERVICE_DOCS`` is ``0`` or ``false``.
    **service_kwargs
        Passed to :class:`~haowurank.serving.RankerService` (feed_config, search_params, mutes).
    """
    token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV)
    if enable_admin and not token:
        raise ValueError(
            f"enable_admin needs an admin token: set the environment variable {ADMIN_TOKEN_ENV} "
            f"(or pass admin_token). Admin endpoints are never served without one."
        )
    service = RankerService.from_paths(artifact_path, dataset_path, max_n=max_n, **service_kwargs)
    show_docs = _docs_enabled(docs)
    app = FastAPI(
        title="haowurank", version="1", description=__doc__,
        docs_url="/docs" if show_docs else None, redoc_url="/redoc" if show_docs else None,
        openapi_url="/openapi.json" if show_docs else None,
    )
    app.state.service = service

    def user_of(raw: str | None, snap: Any) -> Any:
        try:
            return service.parse_user(_required(raw, "user"), snapshot=snap)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def check_admin(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise Unauthorized(
                f"This admin endpoint needs 'Authorization: Bearer <token>' (the token in "
                f"${ADMIN_TOKEN_ENV}).", 401,
            )
        if not hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
            raise Unauthorized("The admin token is wrong.", 403)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": str(exc)})

    @app.exception_handler(BadRequest)
    async def _bad(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(UnknownIdError)
    async def _unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(StaleCursorError)
    async def _stale(_: Request, exc: StaleCursorError) -> JSONResponse:
        return JSONResponse(status_code=410, content={"detail": str(exc)})

    @app.exception_handler(CursorError)
    async def _cursor(_: Request, exc: CursorError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(ArtifactError)
    async def _artifact(_: Request, exc: ArtifactError) -> JSONResponse:
        return JSONResponse(
            status_code=409, content={"detail": f"{exc} (still serving the previous artifact)"}
        )

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(TypeError)
    async def _type(_: Request, exc: TypeError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(parts)})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in service.health().items()}

    @app.get("/recommend")
    def recommend(user: str | None = None, n: str | None = None) -> dict[str, Any]:
        snap = service.snapshot  # one read: the version reported is the one that answered
        u = user_of(user, snap)
        k = _int_param(n, "n", 20, max_n)
        frame = service.recommend(u, n=k, snapshot=snap)
        return {
            "user": _jsonable(u), "n": k, "ranker": snap.ranker.name, "version": snap.version,
            "items": _records(frame, ["item", "score", "rank"]),
        }

    @app.get("/feed")
    def feed(user: str | None = None, n: str | None = None, cursor: str | None = None
             ) -> dict[str, Any]:
        snap = service.snapshot
        u = user_of(user, snap)
        k = _int_param(n, "n", 20, max_n)
        page = service.feed_page(u, n=k, cursor=_bounded(cursor, "cursor") or None, snapshot=snap)
        return {"user": _jsonable(u), "n": k, "items": page.records(),
                "next_cursor": page.next_cursor}

    @app.get("/search")
    def search(q: str | None = None, user: str | None = None, n: str | None = None
               ) -> dict[str, Any]:
        snap = service.snapshot
        text = _required(q, "q")
        u = user_of(user, snap) if user is not None else None
        k = _int_param(n, "n", 20, max_n)
        frame = service.search(text, user=u, n=k, snapshot=snap)
        return {
            "q": text, "user": _jsonable(u), "n": k,
            "items": _records(
                frame,
                ["item", "score", "rank", "n_recommenders", "n_friend_recommenders",
                 "explanation"],
            ),
        }

    if enable_admin:
        @app.post("/admin/reload")
        def reload(request: Request) -> dict[str, Any]:
            check_admin(request)
            try:
                snap = service.reload()
            except (FileNotFoundError, TypeError, ValueError) as exc:  # ArtifactError too
                raise ArtifactError(str(exc)) from exc
            return {k: _jsonable(v) for k, v in snap.describe().items()}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m apps.service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", required=True, help="ranker artifact (.npz)")
    parser.add_argument("--dataset", required=True, help="dataset folder (Dataset.to_parquet)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-n", type=int, default=200)
    parser.add_argument("--enable-admin", action="store_true",
                        help="serve POST /admin/reload (re-read the artifact, swap atomically); "
                             f"needs the token in ${ADMIN_TOKEN_ENV}")
    parser.add_argument("--no-docs", action="store_true",
                        help=f"turn off /docs, /redoc and /openapi.json (or {DOCS_ENV}=0)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    import uvicorn

    app = create_app(args.artifact, args.dataset, max_n=args.max_n,
                     enable_admin=args.enable_admin, docs=False if args.no_docs else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
