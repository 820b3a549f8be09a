"""The asyncio client: the same verbs as `Client`, awaited."""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, List, Optional, Union
from urllib.parse import quote

import httpx

from . import _core
from ._models import Artifact, End, Event, ExecResult, Job, LogLine, Schedule
from ._sse import aevents

Item = Union[LogLine, Event, End]


class AsyncClient:
    """`AsyncClient("http://127.0.0.1:8420", token="...")`, used as `async with`."""

    def __init__(self, base_url: str, token: Optional[str] = None, *, timeout: float = 30.0,
                 read_timeout: float = 60.0, transport: Optional[httpx.AsyncBaseTransport] = None):
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=_core.headers(token), timeout=timeout,
                                  transport=transport)
        self._read_timeout = read_timeout

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        return _core.check(await self._http.request(method, path, **kw))

    # Jobs

    async def submit(self, image_or_spec: Union[str, Dict[str, Any]], command: Optional[List[str]] = None, *,
               idempotency_key: Optional[str] = None, **fields: Any) -> Job:
        """Queues a job: an image and command (any other spec field as a keyword, e.g.
        `env={...}`, `timeouts={"run": "5m"}`), or a whole spec dict. Retried submissions
        with one `idempotency_key` make one job."""
        spec = _core.spec_of(image_or_spec, command, fields)
        return Job.from_json(await self._call("POST", "/v1/jobs", json=spec, headers=_core.submit_headers(idempotency_key)))

    async def get(self, job_id: str) -> Job:
        return Job.from_json(await self._call("GET", _core.job_path(job_id)))

    async def list(self, *, status: Optional[str] = None, queue: Optional[str] = None, label: Optional[str] = None,
             image: Optional[str] = None, page_size: int = 100) -> AsyncIterator[Job]:
        """Every matching job, newest first, fetched a page at a time as you iterate."""
        params: Dict[str, Any] = {k: v for k, v in
                                  {"status": status, "queue": queue, "label": label, "image": image}.items() if v}
        params["limit"] = page_size
        while True:
            page = await self._call("GET", "/v1/jobs", params=params)
            for j in page["jobs"]:
                yield Job.from_json(j)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def cancel(self, job_id: str) -> Job:
        return Job.from_json(await self._call("POST", _core.job_path(job_id, "cancel")))

    async def retry(self, job_id: str) -> Job:
        return Job.from_json(await self._call("POST", _core.job_path(job_id, "retry")))

    async def delete(self, job_id: str) -> None:
        await self._call("DELETE", _core.job_path(job_id))

    async def wait(self, job_id: str, timeout: Optional[float] = None) -> Job:
        """Blocks until the job has ended (following its events, so without polling);
        `TimeoutError` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        async for item in self.follow(job_id, "events", deadline=deadline):
            if isinstance(item, End):
                break
        return await self.get(job_id)

    # Output

    async def logs(self, job_id: str) -> bytes:
        """The stored output, byte-exact (stdout and stderr interleaved)."""
        r = await self._http.get(_core.job_path(job_id, "logs"), headers={"Accept": "text/plain"})
        return _core.check(r) or b""

    async def follow(self, job_id: str, what: str = "logs", *, after: Optional[int] = None,
               max_reconnects: int = 20, deadline: Optional[float] = None) -> AsyncIterator[Item]:
        """The job's output (`logs`: `LogLine`s) or `events` as they happen, ending with `End`.
        A dropped connection is resumed from the last id seen (`Last-Event-ID`): no line is
        lost or repeated."""
        last = None if after is None else str(after)
        failures = 0
        while True:
            hdrs = {"Accept": "text/event-stream"}
            if last is not None:
                hdrs["Last-Event-ID"] = last
            read = self._read_timeout if deadline is None else max(0.1, deadline - time.monotonic())
            try:
                async with self._http.stream("GET", _core.job_path(job_id, what), params={"follow": "true"}, headers=hdrs,
                                       timeout=httpx.Timeout(self._http.timeout.connect, read=read)) as r:
                    if r.status_code >= 400:
                        await r.aread()
                        _core.check(r)
                    async for ev in aevents(r.aiter_lines()):
                        ev_id, item = _core.stream_item(ev)
                        if item is None:
                            continue
                        if ev_id is not None:
                            last = ev_id
                        failures = 0
                        yield item
                        if isinstance(item, End):
                            return
            except (httpx.TransportError, httpx.RemoteProtocolError) as e:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"job {job_id} still running") from e
                failures += 1
                if failures > max_reconnects:
                    raise
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still running")

    async def result(self, job_id: str) -> Any:
        """The JSON the job wrote to `$BERTH_OUTPUT_DIR/result.json`."""
        return await self._call("GET", _core.job_path(job_id, "result"))

    async def artifacts(self, job_id: str) -> List[Artifact]:
        return [Artifact(a["name"], a["size"], a["attempt"], a) for a in await self._call("GET", _core.job_path(job_id, "artifacts"))]

    async def artifact(self, job_id: str, name: str) -> bytes:
        r = await self._http.get(_core.job_path(job_id, "artifacts", quote(name, safe="")), headers={"Accept": "*/*"})
        return _core.check(r) or b""

    async def exec(self, job_id: str, command: List[str], *, env: Optional[Dict[str, str]] = None,
             user: Optional[str] = None, workdir: Optional[str] = None) -> ExecResult:
        """Runs a command inside the running job's container; its exit code and output."""
        body = {"command": list(command), "env": env or {}, "user": user, "workdir": workdir}
        d = await self._call("POST", _core.job_path(job_id, "exec"), json={k: v for k, v in body.items() if v is not None})
        return ExecResult(d["exit_code"], d.get("stdout", ""), d.get("stderr", ""), d)

    # Schedules

    async def create_schedule(self, name: str, cron: str, spec: Dict[str, Any], **options: Any) -> Schedule:
        """`options`: `timezone`, `overlap`, `jitter`, `missed`, ... (docs/schedules.md)."""
        body = {"name": name, "cron": cron, "spec": spec, **options}
        return Schedule.from_json(await self._call("POST", "/v1/schedules", json=body))

    async def schedules(self) -> List[Schedule]:
        d = await self._call("GET", "/v1/schedules")
        return [Schedule.from_json(s) for s in (d.get("schedules", []) if isinstance(d, dict) else d)]

    async def schedule(self, id_or_name: str) -> Schedule:
        return Schedule.from_json(await self._call("GET", "/v1/schedules/" + quote(id_or_name, safe="")))

    async def pause_schedule(self, id_or_name: str) -> Schedule:
        return Schedule.from_json(await self._call("POST", f"/v1/schedules/{quote(id_or_name, safe='')}/pause"))

    async def resume_schedule(self, id_or_name: str) -> Schedule:
        return Schedule.from_json(await self._call("POST", f"/v1/schedules/{quote(id_or_name, safe='')}/resume"))

    async def trigger_schedule(self, id_or_name: str) -> Job:
        return Job.from_json(await self._call("POST", f"/v1/schedules/{quote(id_or_name, safe='')}/trigger"))

    async def delete_schedule(self, id_or_name: str) -> None:
        await self._call("DELETE", "/v1/schedules/" + quote(id_or_name, safe=""))

    # Secrets

    async def set_secret(self, name: str, value: str) -> None:
        await self._call("PUT", "/v1/secrets/" + quote(name, safe=""), json={"value": value})

    async def secrets(self) -> List[str]:
        d = await self._call("GET", "/v1/secrets")
        items = d.get("secrets", []) if isinstance(d, dict) else d
        return [s["name"] for s in items]

    async def delete_secret(self, name: str) -> None:
        await self._call("DELETE", "/v1/secrets/" + quote(name, safe=""))
