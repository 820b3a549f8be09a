"""A workflow engine's "Docker node" as one tool function (seeds 000, 004): run an image with a
command, get back the exit code, stdout, stderr and the duration — through berth, so the run
is durable, capped, cleaned up, and visible in `berth ps`.

    from docker_run import docker_run
    out = docker_run("python:3.12", ["python", "-c", "print(1)"])
    out["exit_code"], out["stdout"]
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from berth_client import Client, End, LogLine


def docker_run(image: str, command: List[str], *, env: Optional[Dict[str, str]] = None,
               timeout: str = "10m", server: Optional[str] = None, token: Optional[str] = None) -> dict:
    """Runs `command` in `image` to its end; `timeout` is berth's (the job is stopped and
    reported `timed_out` past it)."""
    server = server or os.environ.get("BERTH_URL", "http://127.0.0.1:8420")
    token = token or os.environ.get("BERTH_TOKEN")
    with Client(server, token) as berth:
        job = berth.submit(image, command, env=env or None, timeouts={"run": timeout})
        out = {"stdout": [], "stderr": []}
        for item in berth.follow(job.id):
            if isinstance(item, LogLine) and item.stream in out:
                out[item.stream].append(item.text)
            elif isinstance(item, End):
                break
        job = berth.get(job.id)
    took = ((job.finished_at or 0) - (job.started_at or job.finished_at or 0)) / 1000
    return {
        "job_id": job.id,
        "status": job.status,
        "exit_code": job.exit_code,
        "stdout": "".join(out["stdout"]),
        "stderr": "".join(out["stderr"]),
        "duration_s": took,
    }


if __name__ == "__main__":
    # python docker_run.py [IMAGE [COMMAND...]]: against ./scripts/demo's server by default.
    import json
    import sys

    image = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BERTH_TEST_IMAGE", "berth-test/busybox:latest")
    command = sys.argv[2:] or ["sh", "-c", "echo hello from berth; echo a warning >&2; exit 3"]
    print(json.dumps(docker_run(image, command), indent=1))
