"""Typed views of the API's JSON: what `submit`, `get`, `list` and the streams return. Each
keeps the whole document in `raw`, so fields newer than this client are still there."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out", "error", "lost"}


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    image: str
    tenant: str
    queue: str
    created_at: int
    reason: Optional[str] = None
    exit_code: Optional[int] = None
    started_at: Optional[int] = None
    finished_at: Optional[int] = None
    labels: Dict[str, str] = field(default_factory=dict)
    result: Any = None
    attempts: List[Dict[str, Any]] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """The job has ended (whatever the outcome)."""
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Job":
        return cls(
            id=d["id"],
            status=d["status"],
            image=d.get("image", ""),
            tenant=d.get("tenant", ""),
            queue=d.get("queue", "default"),
            created_at=d.get("created_at", 0),
            reason=d.get("reason_text") or (d.get("reason") if isinstance(d.get("reason"), str) else None),
            exit_code=d.get("exit_code"),
            started_at=d.get("started_at"),
            finished_at=d.get("finished_at"),
            labels=d.get("labels") or {},
            result=d.get("result"),
            attempts=d.get("attempts") or [],
            raw=d,
        )


@dataclass(frozen=True)
class LogLine:
    """A piece of output: `text` is UTF-8 (use `Client.logs` for exact bytes)."""
    seq: int
    stream: str
    attempt: int
    at: int
    text: str


@dataclass(frozen=True)
class Event:
    """A job event: `status` changes, the job's own JSON lines (kind = their key's value),
    `stopping`/`warning` notes."""
    seq: int
    kind: str
    at: int
    data: Any


@dataclass(frozen=True)
class End:
    """The end of a stream: the job's final status."""
    status: str
    reason: Optional[str]
    exit_code: Optional[int]


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    attempt: int
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    cron: str
    state: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Schedule":
        return cls(id=d.get("id", ""), name=d.get("name", ""), cron=d.get("cron", ""), state=d.get("state", ""), raw=d)
