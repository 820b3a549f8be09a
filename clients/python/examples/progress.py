"""A job fed a JSON request on stdin whose JSONL progress is followed live (seed 002): the image
prints `{"type": "job_update", "progress": ...}` lines, which `event_key="type"` turns into
events without changing the image; everything else stays its log.

    export BERTH_TOKEN=$(cat ~/.local/share/berth/demo.token)   # ./scripts/demo's server
    python progress.py                                           # any image with sh will do
"""
from __future__ import annotations

import os
import sys

from berth_client import Client, End, Event

# A stand-in for a worker image: reads its request, reports progress, writes a result.
WORKER = r'''
read request
echo "{\"type\":\"job_update\",\"progress\":0.0,\"request\":$request}"
for p in 0.25 0.5 0.75; do echo "{\"type\":\"job_update\",\"progress\":$p}"; done
echo "working on it (a plain log line)"
echo "{\"type\":\"job_update\",\"progress\":1.0}"
echo "{\"ok\": true}" > "$BERTH_OUTPUT_DIR/result.json"
'''


def run(image: str, request: dict, server: str, token: str | None) -> list:
    with Client(server, token) as berth:
        job = berth.submit(image, ["sh", "-c", WORKER], stdin={"json": request}, output={"event_key": "type"})
        seen = []
        for item in berth.follow(job.id, "events"):
            if isinstance(item, Event) and item.kind == "job_update":
                seen.append(item.data["progress"])
                print(f"progress {item.data['progress']:.0%}")
            elif isinstance(item, End):
                print(f"ended {item.status}; result {berth.result(job.id)}")
        return seen


if __name__ == "__main__":
    # The busybox image ./scripts/demo builds (nothing is pulled there).
    run(sys.argv[1] if len(sys.argv) > 1 else "berth-test/busybox:latest", {"input": "hello"},
        os.environ.get("BERTH_URL", "http://127.0.0.1:8420"), os.environ.get("BERTH_TOKEN"))
