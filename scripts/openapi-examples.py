#!/usr/bin/env python3
"""Captures an example request and response for every operation of a live berth server, for
the OpenAPI document (crates/berth-server/src/openapi_examples.json holds the trimmed result).

Usage: python3 scripts/openapi-examples.py URL [IMAGE] > examples.json
after `berth token create --tenant acme` on the server's store (the policy examples need it),
against `berth server --insecure-no-auth` on the Docker engine. Every example is a real
exchange; scripts/check-standards then validates each against its schema."""
import json
import sys
import time
import urllib.error
import urllib.request

URL = sys.argv[1].rstrip("/")
IMAGE = sys.argv[2] if len(sys.argv) > 2 else "berth-test/busybox:latest"
OUT = {}


def call(method, path, template, body=None, status_only=False, ctype="application/json", accept=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", ctype)
    if accept:
        req.add_header("accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw, got = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")
    entry = OUT.setdefault(f"{method} {template}", {})  # the first exchange is the example
    if body is not None:
        entry.setdefault("request", body)
    kind = got.split(";")[0]
    if raw and not status_only:
        value = json.loads(raw) if kind == "application/json" else raw.decode()
        entry.setdefault("responses", {}).setdefault(str(status), {}).setdefault(kind, value)
    return json.loads(raw) if kind == "application/json" and raw else raw


def wait(job_id, statuses=("succeeded", "failed", "cancelled")):
    for _ in range(300):
        job = json.loads(urllib.request.urlopen(f"{URL}/v1/jobs/{job_id}").read())
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    sys.exit(f"job {job_id} never reached {statuses}")


script = (
    'echo "resizing 3 images"; echo \'{"berth": {"progress": 0.5, "message": "half"}}\'; '
    'echo "a warning" >&2; echo \'{"thumbnails": 3}\' > "$BERTH_OUTPUT_DIR/result.json"; '
    'echo small > "$BERTH_OUTPUT_DIR/thumb-1.png"'
)
spec = {
    "image": IMAGE,
    "command": ["sh", "-c", script],
    "env": {"SIZE": "128"},
    "labels": {"team": "media"},
    "queue": "default",
    "resources": {"memory": "256m", "cpus": 0.5},
    "timeouts": {"run": "10m"},
}
job = call("POST", "/v1/jobs", "/v1/jobs", spec)
wait(job["id"])
jid = job["id"]
call("GET", f"/v1/jobs/{jid}", "/v1/jobs/{id}")
call("GET", "/v1/jobs?label=team%3Dmedia&limit=1", "/v1/jobs")
call("GET", f"/v1/jobs/{jid}/logs", "/v1/jobs/{id}/logs")
call("GET", f"/v1/jobs/{jid}/logs", "/v1/jobs/{id}/logs", accept="application/json")
call("GET", f"/v1/jobs/{jid}/logs?follow=true", "/v1/jobs/{id}/logs", accept="text/event-stream")
call("GET", f"/v1/jobs/{jid}/events", "/v1/jobs/{id}/events")
call("GET", f"/v1/jobs/{jid}/events?follow=true", "/v1/jobs/{id}/events", accept="text/event-stream")
call("GET", f"/v1/jobs/{jid}/result", "/v1/jobs/{id}/result")
call("GET", f"/v1/jobs/{jid}/artifacts", "/v1/jobs/{id}/artifacts")
call("GET", f"/v1/jobs/{jid}/artifacts/thumb-1.png", "/v1/jobs/{id}/artifacts/{name}")
call("GET", f"/v1/jobs/{jid}/deliveries", "/v1/jobs/{id}/deliveries")

sleeper = call("POST", "/v1/jobs", "/v1/jobs", {"image": IMAGE, "command": ["sleep", "30"]})
sid = sleeper["id"]
wait(sid, ("running",))
call("GET", f"/v1/jobs/{sid}/containers", "/v1/jobs/{id}/containers")
call("POST", f"/v1/jobs/{sid}/exec", "/v1/jobs/{id}/exec", {"command": ["cat", "/etc/hostname"]})
call("POST", f"/v1/jobs/{sid}/cancel", "/v1/jobs/{id}/cancel")
wait(sid)
call("POST", f"/v1/jobs/{sid}/retry", "/v1/jobs/{id}/retry")
wait(sid, ("running",))
call("POST", f"/v1/jobs/{sid}/cancel", "/v1/jobs/{id}/cancel")
wait(sid)
call("DELETE", f"/v1/jobs/{sid}", "/v1/jobs/{id}", status_only=True)

call("PUT", "/v1/secrets/db-password", "/v1/secrets/{name}", {"value": "s3cret"})
call("GET", "/v1/secrets", "/v1/secrets")
call("DELETE", "/v1/secrets/db-password", "/v1/secrets/{name}", status_only=True)

call("PUT", "/v1/tenants/acme/policy", "/v1/tenants/{name}/policy",
     {"cap_add": ["NET_ADMIN"], "ceilings": {"cpus": 2, "memory": "4g"}})
call("GET", "/v1/tenants/acme/policy", "/v1/tenants/{name}/policy")
call("DELETE", "/v1/tenants/acme/policy", "/v1/tenants/{name}/policy")

vol = call("POST", "/v1/jobs", "/v1/jobs", {"image": IMAGE, "command": ["sh", "-c", "echo 1 > /cache/n"],
                                            "mounts": [{"type": "volume", "source": "build-cache", "target": "/cache"}]})
wait(vol["id"])
call("GET", "/v1/volumes", "/v1/volumes")
call("DELETE", "/v1/volumes/build-cache", "/v1/volumes/{name}", status_only=True)

call("GET", "/v1/schedules/preview?cron=0%202%20*%20*%20*&timezone=Europe%2FBerlin&count=3", "/v1/schedules/preview")
schedule = {"name": "nightly-report", "cron": "0 2 * * *", "timezone": "Europe/Berlin",
            "spec": {"image": IMAGE, "command": ["echo", "report"]}}
call("POST", "/v1/schedules", "/v1/schedules", schedule)
call("GET", "/v1/schedules", "/v1/schedules")
call("GET", "/v1/schedules/nightly-report", "/v1/schedules/{id}")
call("PATCH", "/v1/schedules/nightly-report", "/v1/schedules/{id}", {"cron": "30 2 * * *"},
     ctype="application/merge-patch+json")
call("GET", "/v1/schedules/nightly-report/next?count=3", "/v1/schedules/{id}/next")
made = call("POST", "/v1/schedules/nightly-report/trigger", "/v1/schedules/{id}/trigger")
wait(made["id"])
call("GET", "/v1/schedules/nightly-report/jobs", "/v1/schedules/{id}/jobs")
call("POST", "/v1/schedules/nightly-report/pause", "/v1/schedules/{id}/pause", {"reason": "maintenance window"})
call("POST", "/v1/schedules/nightly-report/resume", "/v1/schedules/{id}/resume")
call("DELETE", "/v1/schedules/nightly-report", "/v1/schedules/{id}", status_only=True)

call("GET", "/v1/workers", "/v1/workers")
call("GET", "/v1/stats?minutes=3", "/v1/stats")
call("GET", "/v1/audit?limit=2", "/v1/audit")
call("GET", "/healthz", "/healthz")
call("GET", "/readyz", "/readyz")
call("GET", "/metrics", "/metrics")

# A replay (same Idempotency-Key) and a replaced secret answer 200 with the same body.
for key in ["POST /v1/jobs", "PUT /v1/secrets/{name}"]:
    OUT[key]["responses"]["200"] = OUT[key]["responses"]["201"]
# /metrics: a few families, not all of them.
families = ("berth_jobs ", "berth_jobs{", "berth_jobs_finished_total", "berth_workers")
metrics = OUT["GET /metrics"]["responses"]["200"]["text/plain"].splitlines()
kept = [line for line in metrics if line.split(" ", 2)[-1].startswith(families) or line.startswith(families)]
OUT["GET /metrics"]["responses"]["200"]["text/plain"] = "\n".join(kept) + "\n"
json.dump(OUT, sys.stdout, indent=1, sort_keys=True)
