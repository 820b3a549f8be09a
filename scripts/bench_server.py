"""The server part of scripts/bench: jobs/s through `berth server` against containers/s on the
raw engine API (Python over the Docker socket, no CLI processes) at the same concurrency, and
submit->running latency against `docker run -d`, one at a time and with BENCH_BACKLOG (200)
jobs queued at once against the same containers queued on the raw engine API. Run by
scripts/bench; argv: BERTH JOBS."""
import http.client, json, os, socket, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import api, start_server  # noqa: E402

berth, jobs = sys.argv[1], int(sys.argv[2])
img = "berth-test/busybox:latest"
CONC = int(os.environ.get("BENCH_CONCURRENCY", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "200"))
host_config = {"Init": True, "NetworkMode": "bridge", "Memory": 2 << 30, "MemorySwap": 2 << 30, "PidsLimit": 1024,
               "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"]}


class Engine(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost")

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")

    def call(self, method, path, body=None):
        self.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = self.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
        return json.loads(data) if data else None


def raw_engine(n, started=None):
    """n containers of `true`, CONC at a time: create, start, wait, remove; `started` is told
    the seconds since the run began as each start returns. Returns the run's length."""
    todo = list(range(n))
    lock = threading.Lock()
    t = time.perf_counter()

    def worker():
        e = Engine()
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            c = e.call("POST", "/containers/create", {"Image": img, "Cmd": ["true"], "HostConfig": host_config})
            e.call("POST", f"/containers/{c['Id']}/start")
            if started:
                with lock:
                    started(time.perf_counter() - t)
            e.call("POST", f"/containers/{c['Id']}/wait")
            e.call("DELETE", f"/containers/{c['Id']}?force=true&v=true")

    threads = [threading.Thread(target=worker) for _ in range(CONC)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    return time.perf_counter() - t


def through_server(url, n):
    """From the first submit to the last job's recorded finish (the server's clock, so the
    polling here neither adds to the time nor needs to be frequent)."""
    spec = {"image": img, "command": ["true"]}
    start_ms = time.time() * 1000
    ids = {api(f"{url}/v1/jobs", "POST", spec)["id"] for _ in range(n)}
    while api(f"{url}/v1/jobs?status=queued,starting,running&limit=1")["jobs"]:
        time.sleep(0.25)
    done = [j for j in api(f"{url}/v1/jobs?limit=500")["jobs"] if j["id"] in ids]
    assert len(done) == n and all(j["status"] == "succeeded" for j in done), "not every job succeeded"
    return (max(j["finished_at"] for j in done) - start_ms) / 1000


def submit_to_running(url, n):
    """Client clock: from the POST to the first poll that sees `running` (or later)."""
    out = []
    spec = {"image": img, "command": ["sleep", "0.3"]}
    for _ in range(n):
        t = time.perf_counter()
        job = api(f"{url}/v1/jobs", "POST", spec)
        while api(f"{url}/v1/jobs/{job['id']}")["status"] in ("queued", "starting"):
            time.sleep(0.005)
        out.append(time.perf_counter() - t)
        time.sleep(0.5)
    return out


def backlog_berth(url, n):
    """n jobs submitted at once behind the server's CONC slots: each job's wait from its
    submission to running, on the server's own clock (created_at -> started_at)."""
    spec = {"image": img, "command": ["true"]}
    ids = {api(f"{url}/v1/jobs", "POST", spec)["id"] for _ in range(n)}
    while api(f"{url}/v1/jobs?status=queued,starting,running&limit=1")["jobs"]:
        time.sleep(0.25)
    done = [j for j in api(f"{url}/v1/jobs?limit=500")["jobs"] if j["id"] in ids]
    assert len(done) == n and all(j["status"] == "succeeded" for j in done), "not every job succeeded"
    return [(j["started_at"] - j["created_at"]) / 1000 for j in done], berth_share(url, done)


def berth_share(url, jobs):
    """What berth itself adds to each job's path to running, from its own records (ms): the
    wait from the later of its submission and the last unit exit before it to its container
    being planned (claim, hand-off, the slot coming back), plus the time from the engine's
    start returning to `running` recorded. The engine's own create and start are not in it."""
    units = {j["id"]: api(f"{url}/v1/jobs/{j['id']}/containers")[0] for j in jobs}
    exits = sorted(u["finished_at"] for u in units.values())
    share = []
    # Each unit's exit frees one of the CONC slots: the i-th job planned takes the slot the
    # (i - CONC)-th exit freed (the first CONC found their slots free).
    for i, j in enumerate(sorted(jobs, key=lambda j: units[j["id"]]["planned_at"])):
        u = units[j["id"]]
        freed = exits[i - CONC] if i >= CONC else j["created_at"]
        share.append(u["planned_at"] - max(freed, j["created_at"]) + j["started_at"] - u["started_at"])
    return share


def backlog_engine(n):
    """The same n containers queued at once behind CONC threads on the raw engine API: each
    one's wait from the start of the run to its start call returning."""
    waits = []
    raw_engine(n, waits.append)
    return waits


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def docker_run_d(n):
    like = ["--init", "--network", "bridge", "--memory", "2g", "--memory-swap", "2g", "--pids-limit", "1024",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        cid = subprocess.run(["docker", "run", "-d", *like, img, "sleep", "0.3"], check=True, capture_output=True,
                             text=True).stdout.strip()
        out.append(time.perf_counter() - t)
        subprocess.run(["docker", "rm", "-f", cid], check=True, capture_output=True)
    return out


data = tempfile.mkdtemp()
server, url = start_server(berth, data, CONC)
try:
    through_server(url, 4)  # warm-up
    raw_engine(4)
    if ROUNDS > 0:
        b_runs, r_runs = [], []
        for i in range(ROUNDS):
            pair = [("b", lambda: through_server(url, jobs)), ("r", lambda: raw_engine(jobs))]
            for name, f in (pair if i % 2 == 0 else pair[::-1]):
                (b_runs if name == "b" else r_runs).append(f())
        b, r = statistics.median(b_runs), statistics.median(r_runs)
        print(f"server throughput, {jobs} jobs of `true`, concurrency {CONC}, {ROUNDS} rounds alternating, median")
        print(f"  berth server (HTTP submit -> worker slots)  {jobs/b:6.2f} jobs/s")
        print(f"  raw engine API (create/start/wait/remove)   {jobs/r:6.2f} containers/s")
        print(f"  ratio berth / raw engine = {r/b:.2f}  (goal >= 0.95)")
        lat = submit_to_running(url, 15)
        dock = docker_run_d(15)
        lm, dm = statistics.median(lat), statistics.median(dock)
        print("submit -> running, 15 jobs one at a time")
        print(f"  berth server  median {lm*1000:6.1f} ms  p90 {sorted(lat)[13]*1000:6.1f} ms")
        print(f"  docker run -d median {dm*1000:6.1f} ms  p90 {sorted(dock)[13]*1000:6.1f} ms")
        print(f"  ratio berth / docker run -d = {lm/dm:.2f}")
    if BACKLOG > 0:
        e, (b, share) = backlog_engine(BACKLOG), backlog_berth(url, BACKLOG)
        print(f"submit -> running with {BACKLOG} jobs queued at once behind {CONC} slots (each job's own wait)")
        for name, xs in (("berth server", b), ("raw engine API", e)):
            print(f"  {name:15s} p50 {pct(xs, 50)*1000:8.1f} ms  p99 {pct(xs, 99)*1000:8.1f} ms")
        print(f"  added by berth: p50 {(pct(b, 50) - pct(e, 50))*1000:+.1f} ms, p99 {(pct(b, 99) - pct(e, 99))*1000:+.1f} ms"
              f"  (goal <= 50 ms); ratio p50 {pct(b, 50)/pct(e, 50):.2f}")
        print(f"  berth's own share of each job's path (its records, engine create/start excluded):"
              f" p50 {pct(share, 50):.1f} ms, p99 {pct(share, 99):.1f} ms, max {max(share):.1f} ms  (goal <= 50 ms)")
finally:
    server.terminate()
    server.wait()
    subprocess.run(["rm", "-rf", data])
