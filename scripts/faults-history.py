#!/usr/bin/env python3
"""The fault run's history: a webhook receiver that records every call, and the checker
that reads what happened (every job and attempt from the API, every container start and
die from dockerd's own event stream, every webhook call, every cancel the run sent) into
one history.json and checks it mechanically. scripts/faults runs both.

  faults-history.py receive PORT_FILE CALLS_FILE
  faults-history.py check WORK_DIR API_URL STORE_URL
"""
import json
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def receive(port_file, calls_file):
    out = open(calls_file, "a", buffering=1)

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            job = json.loads(body)["job"]
            call = {"delivery": self.headers.get("berth-delivery"), "event": self.headers.get("berth-event"),
                    "job": job["id"], "status": job["status"]}
            out.write(json.dumps(call) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def get(url, headers=None):
    """The body at `url`, tried three times (a server may be busy finishing a fault)."""
    for attempt in range(3):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as r:
                return r.read()
        except OSError as e:
            if attempt == 2:
                raise RuntimeError(f"GET {url}: {e}") from e
            time.sleep(1)


def deliveries(store):
    """Each job's webhook rows in the outbox: (job, state, tries)."""
    out = subprocess.run(["psql", store, "-qAtF", "\t", "-c", "select job_id, state, tries from deliveries"],
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        job, state, tries = line.split("\t")
        rows.setdefault(job, []).append({"state": state, "tries": int(tries)})
    return rows


def history(work, api, store):
    """Every job with its attempts, containers (from dockerd), webhook calls and outbox rows,
    and the cancels the run sent."""
    submitted = lines(f"{work}/jobs.jsonl")
    outbox = deliveries(store)
    cancels = {c["job"]: c for c in lines(f"{work}/cancels.jsonl")}
    calls = lines(f"{work}/calls.jsonl")
    runs = {}
    for e in lines(f"{work}/docker-events.jsonl"):
        name = e.get("Actor", {}).get("Attributes", {}).get("name", "")
        at = e.get("timeNano", 0) // 1_000_000
        run = runs.setdefault(name, {"container": name, "start": None, "die": None})
        if e.get("status") == "start" or e.get("Action") == "start":
            run["start"] = at
        elif (e.get("status") == "die" or e.get("Action") == "die") and run["die"] is None:
            run["die"] = at
    jobs = []
    for s in submitted:
        detail = json.loads(get(f"{api}/v1/jobs/{s['id']}"))
        short = s["id"][:12]
        containers = sorted((r for n, r in runs.items() if n.startswith(f"berth-{short}-")),
                            key=lambda r: int(r["container"].rsplit("-", 1)[1]))
        jobs.append({
            "id": s["id"], "kind": s["kind"], "status": detail["status"], "reason": detail.get("reason_text"),
            "created_at": detail["created_at"], "finished_at": detail.get("finished_at"),
            "total_timeout_ms": s.get("total_ms"),
            "attempts": [{k: a.get(k) for k in ("number", "worker", "created_at", "started_at", "finished_at",
                                                 "exit_code", "reason")} for a in detail["attempt_list"]],
            "containers": containers,
            "cancel": cancels.get(s["id"]),
            "webhook_calls": [c for c in calls if c["job"] == s["id"]],
            "outbox": outbox.get(s["id"], []),
            "log": last_attempt_log(api, s["id"]) if s["kind"] == "long" else None,
        })
    return jobs


def last_attempt_log(api, job):
    """The stored output of the job's last attempt, per stream (from the SSE log stream,
    whose events name their attempt; it ends since the job has)."""
    text = get(f"{api}/v1/jobs/{job}/logs", {"accept": "text/event-stream"}).decode()
    chunks = []
    event = None
    for line in text.split("\n"):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "log":
            chunks.append(json.loads(line[5:]))
    last = max((c["attempt"] for c in chunks), default=0)
    return {stream: "".join(c["text"] for c in chunks if c["attempt"] == last and c["stream"] == stream)
            for stream in ("stdout", "stderr")}


def overlapping(job):
    """Pairs of this job's containers that ran at once, by dockerd's own clock."""
    runs = [r for r in job["containers"] if r["start"] is not None]
    n = 0
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if (a["die"] or 1 << 62) > b["start"] and (b["die"] or 1 << 62) > a["start"]:
                n += 1
    return n


def expected_log():
    out = "".join(f"out {i}\n" for i in range(300))
    err = "".join(f"err {i}\n" for i in range(300))
    return out, err


def check(work, api, store):
    jobs = history(work, api, store)
    faults = {f["fault"]: f["at"] for f in lines(f"{work}/faults.jsonl")}
    with open(f"{work}/history.json", "w") as f:
        json.dump(jobs, f, indent=1)
    fails = []
    unfinished = [j for j in jobs if j["status"] in ("queued", "starting", "running")]
    overlaps = sum(overlapping(j) for j in jobs)
    # Webhooks: every job notifies once; a call per delivery, none twice.
    calls = [c for j in jobs for c in j["webhook_calls"]]
    distinct = {(c["job"], c["event"]) for c in calls}
    # Not called: a failure unless its outbox row still waits for a retry (a sender killed
    # between its claim and its call holds the claim for minutes before another sends it).
    missing = [j["id"] for j in jobs if not j["webhook_calls"] and not any(r["state"] == "pending" for r in j["outbox"])]
    held = sum(1 for j in jobs if not j["webhook_calls"] and j["id"] not in missing)
    # Untrue records.
    untrue = []
    for j in jobs:
        last = j["attempts"][-1] if j["attempts"] else None
        if j["status"] == "succeeded" and (last is None or last["exit_code"] != 0):
            untrue.append((j["id"], "succeeded without a last attempt that exited 0"))
        if j["status"] == "cancelled" and not j["cancel"]:
            untrue.append((j["id"], f"ended {j['reason']} but nobody cancelled it"))
        if "lease" in (j["reason"] or ""):
            untrue.append((j["id"], f"ended {j['reason']}"))
        c = j["cancel"]
        if c and c["code"] == 202:
            if j["status"] != "cancelled":
                untrue.append((j["id"], f"cancel answered 202 but the job ended {j['status']} ({j['reason']})"))
            # An attempt claimed as the cancel landed may be recorded after it, but it must
            # end cancelled with nothing started; and no container may start later than a
            # start already in flight could (3 s: dockerd under CI load took over 1 s).
            started = {int(r["container"].rsplit("-", 1)[1]): r["start"] for r in j["containers"] if r["start"]}
            late = [a["number"] for a in j["attempts"] if (a["created_at"] or 0) > c["at"]
                    and ((a["reason"] or {}).get("kind") != "cancelled" or a["number"] in started)]
            late += [n for n, at in started.items() if at > c["at"] + 3000]
            if late:
                untrue.append((j["id"], f"attempt(s) {sorted(set(late))} ran after the cancel was accepted"))
        if j["kind"] == "total":
            deadline = j["created_at"] + j["total_timeout_ms"]
            late = [a["number"] for a in j["attempts"] if (a["created_at"] or 0) > deadline]
            # Ended by the janitor within a second or two; a holder cut off from the store
            # can hold it until its lease runs out and the reaper's wait (lease + 2 s +
            # the stop grace) is over.
            bound = deadline + 6000 + 2000 + 10_000 + 5000
            if j["reason"] != "timed_out(total)" or late or (j["finished_at"] or 1 << 62) > bound:
                untrue.append((j["id"], f"total timeout: ended {j['reason']} at +{(j['finished_at'] or 0) - j['created_at']}"
                                        f" ms, attempts begun past the deadline: {late}"))
    # The unfaulted server's attempts end only by their own exit (or a cancel/timeout):
    # a sweep during the PostgreSQL restart killed none of them.
    swept = [(j["id"], a["number"], a["reason"]) for j in jobs for a in j["attempts"]
             if a["worker"] == "faults-a" and a["exit_code"] != 0 and j["kind"] in ("short", "long")]
    # Printers and short jobs all succeed, whatever the faults did to their attempts.
    failed = [(j["id"], j["status"], j["reason"]) for j in jobs
              if j["kind"] in ("short", "long") and j["status"] != "succeeded"]
    # Logs: the last attempt of each printer, byte for byte.
    want_out, want_err = expected_log()
    bad_logs = []
    for j in jobs:
        if j["kind"] != "long" or j["status"] != "succeeded":
            continue
        if j["log"] != {"stdout": f"before\n{want_out}after\n", "stderr": want_err}:
            bad_logs.append(j["id"])
    # Reattached: a printer's attempt that server B began before its SIGKILL and that its
    # next run saw to its exit 0 (so the log check covers a resumed recorder).
    killed = faults.get("kill-b", 0)
    reattached = sum(1 for j in jobs if j["kind"] == "long" for a in j["attempts"]
                     if a["worker"] == "faults-b" and (a["started_at"] or 1 << 62) < killed and a["exit_code"] == 0)
    cut_off = sum(1 for j in jobs for a in j["attempts"] if a["worker"] == "faults-c")
    counts = {}
    for j in jobs:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"webhooks: {len(calls)} calls, {len(distinct)} distinct, for {len(jobs)} jobs"
          f" ({len(missing)} missing, {held} still held by a killed sender)")
    print(f"overlapping attempts (dockerd's clock): {overlaps}; attempts on the cut-off server: {cut_off}")
    print(f"untrue records: {len(untrue)}; attempts killed on the unfaulted server: {len(swept)}")
    print(f"printer logs byte-exact: {sum(1 for j in jobs if j['kind'] == 'long') - len(bad_logs)}"
          f"/{sum(1 for j in jobs if j['kind'] == 'long')} ({reattached} reattached after the SIGKILL)")
    for what, bad in (("unfinished", unfinished), ("untrue", untrue), ("swept", swept), ("logs", bad_logs),
                      ("missing webhook", missing), ("not succeeded", failed)):
        if bad:
            fails.append(f"{what}: {bad[:5]}")
    if overlaps:
        fails.append(f"{overlaps} overlapping attempt pair(s)")
    if reattached == 0:
        fails.append("no printer was reattached after the SIGKILL: the byte-exact check saw no resume")
    if len(calls) != len(distinct):
        fails.append(f"webhooks: {len(calls)} calls for {len(distinct)} deliveries")
    print(f"faults: {len(jobs)} jobs; webhooks {len(calls)} sent/{len(distinct)} distinct; overlapping {overlaps};"
          f" untrue {len(untrue)}; killed by a sweep {len(swept)}; logs exact"
          f" {sum(1 for j in jobs if j['kind'] == 'long') - len(bad_logs)}/{sum(1 for j in jobs if j['kind'] == 'long')}")
    for f in fails:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    if sys.argv[1] == "receive":
        receive(sys.argv[2], sys.argv[3])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
