"""Errors: every API error is a `BerthError` carrying the HTTP status, berth's error code,
its message and (for a bad spec or parameter) the field it names."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


class BerthError(Exception):
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None,
                 details: Optional[List[Dict[str, Any]]] = None):
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or []


class NotFound(BerthError):
    """404: no such job (or another tenant's)."""


class InvalidSpec(BerthError):
    """422 (or 400): the request names a bad field; `field` says which."""


class Unauthorized(BerthError):
    """401/403: no token, a bad one, or one that may not do this."""


class Conflict(BerthError):
    """409: the job's state does not allow it (e.g. cancelling a finished job)."""


def from_response(status: int, body: Any) -> BerthError:
    err = body.get("error", {}) if isinstance(body, dict) else {}
    code, message = err.get("code", "http_error"), err.get("message", str(body)[:200])
    field, details = err.get("field"), err.get("details")
    kind = {404: NotFound, 422: InvalidSpec, 400: InvalidSpec, 401: Unauthorized, 403: Unauthorized,
            409: Conflict}.get(status, BerthError)
    return kind(status, code, message, field, details)
