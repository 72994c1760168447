"""Database down: a 503 that says so, in the format the caller reads, instead of a bare 500.

Pages get an HTML page, the API (/api/, /mcp) JSON, /metrics plain text; all carry Retry-After.
Nothing here touches the database (no context processors, no user lookup), and nothing needs a
restart: the next request after PostgreSQL is back gets a fresh connection from the pool.

A query the web limits cancelled (statement_timeout, lock_timeout: database_limits.py) gets the
same 503 with its own message, "database busy": PostgreSQL answers, but a lock (a migration, a
REFRESH) or a runaway query kept the page waiting longer than its limit.

Two entry points share one response: DatabaseUnavailableMiddleware.process_exception catches a
view's (and its template's) error, in DEBUG too; handler500 catches what fails outside a view
(a middleware saving the session), where Django has already given up on the request.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error
from psycopg import errors as pg_errors

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
MESSAGE = "The database is unreachable: LeadSync Portal cannot show sync data until PostgreSQL answers again."
BUSY_RETRY_AFTER_SECONDS = 10
BUSY_MESSAGE = (
    "The database is busy: a query waited longer than its limit for a lock or for its result "
    "(a migration or maintenance may be running). Try again in a few seconds."
)


def is_database_unavailable(exc: BaseException | None) -> bool:
    # OperationalError: refused, terminated, pool timeout (psycopg_pool.PoolTimeout is mapped to
    # it); InterfaceError: a connection already closed under us.
    return isinstance(exc, (OperationalError, InterfaceError))


def is_query_cancelled(exc: BaseException | None) -> bool:
    """A statement PostgreSQL cancelled: statement_timeout (QueryCanceled) or lock_timeout
    (LockNotAvailable). Django wraps psycopg's error; the original is its __cause__."""
    while exc is not None:
        if isinstance(exc, (pg_errors.QueryCanceled, pg_errors.LockNotAvailable)):
            return True
        exc = exc.__cause__
    return False


def database_unavailable_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    path = request.path
    busy = is_query_cancelled(exc)
    message, retry = (BUSY_MESSAGE, BUSY_RETRY_AFTER_SECONDS) if busy else (MESSAGE, RETRY_AFTER_SECONDS)
    if path.startswith(("/api/", "/mcp", "/readyz")):
        response: HttpResponse = JsonResponse({"error": message, "retry_after_seconds": retry}, status=503)
    elif path.startswith("/metrics"):
        response = HttpResponse(
            f"# {message}\n", status=503, content_type="text/plain; version=0.0.4; charset=utf-8"
        )
    else:
        title = "Database busy" if busy else "Database unreachable"
        html = render_to_string(
            "errors/database_unavailable.html", {"title": title, "message": message, "retry": retry}
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(retry)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        logger.warning("database unavailable or busy on %s: %s", request.path, exception)
        return database_unavailable_response(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 view, except when the error being handled is a lost database."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return server_error(request)
