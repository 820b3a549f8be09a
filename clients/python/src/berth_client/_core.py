"""What the sync and async clients share: building requests and reading answers, so the two
differ only in how they wait."""
from __future__ import annotations

import uuid
from typing import Any, Dict, Optional, Tuple, Union
from urllib.parse import quote

import httpx

from ._errors import from_response
from ._models import End, Event, LogLine
from ._sse import SseEvent

Spec = Dict[str, Any]


def headers(token: Optional[str]) -> Dict[str, str]:
    h = {"User-Agent": "berth-client-python/0.1.0", "Accept": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def job_path(job_id: str, *rest: str) -> str:
    return "/v1/jobs/" + quote(job_id, safe="") + "".join("/" + r for r in rest)


def spec_of(image_or_spec: Union[str, Spec], command: Optional[list], fields: Dict[str, Any]) -> Spec:
    """A spec from an image and command (and any other spec fields), or a whole spec."""
    if isinstance(image_or_spec, dict):
        spec = dict(image_or_spec)
    else:
        spec = {"image": image_or_spec}
    if command is not None:
        spec["command"] = list(command)
    spec.update({k: v for k, v in fields.items() if v is not None})
    return spec


def submit_headers(idempotency_key: Optional[str]) -> Dict[str, str]:
    """Every submission gets an idempotency key (a new one unless given): a retried POST
    never makes a second job."""
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def check(r: httpx.Response) -> Any:
    """The answer's JSON, or the API error it carries as an exception."""
    if r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            body = r.text
        raise from_response(r.status_code, body)
    if r.status_code == 204 or not r.content:
        return None
    ctype = r.headers.get("content-type", "")
    return r.json() if "json" in ctype else r.content


def stream_item(ev: SseEvent) -> Tuple[Optional[str], Union[LogLine, Event, End, None]]:
    """An SSE event of a log or events stream as (its id, what it says)."""
    d = ev.data if isinstance(ev.data, dict) else {}
    if ev.event == "end":
        return ev.id, End(d.get("status", ""), d.get("reason"), d.get("exit_code"))
    if ev.event == "log":
        seq = int(ev.id) if ev.id and ev.id.isdigit() else 0
        return ev.id, LogLine(seq, d.get("stream", "stdout"), d.get("attempt", 0), d.get("at", 0), d.get("text", ""))
    if ev.id is None and ev.event in ("message", "ping"):
        return None, None
    seq = int(ev.id) if ev.id and ev.id.isdigit() else 0
    return ev.id, Event(seq, d.get("kind", ev.event), d.get("at", 0), d.get("data", d))
