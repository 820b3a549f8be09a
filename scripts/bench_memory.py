"""The memory and log-load part of scripts/bench (issue 16, item 3): `berth server`'s own
resident memory idle, and per running job at N running jobs, against what the engine itself
spends per running container in the same run (containerd's shims, and dockerd's growth);
then LOGS jobs at once each printing MB megabytes as fast as they can, every byte checked in
the store, with berth's CPU per MB against dockerd's. Every job ends and no container may be
left. Run by scripts/bench (and by scripts/test small, to keep it working);
argv: BERTH N [LOGS MB]."""
import hashlib, os, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import api, start_server  # noqa: E402

berth, n = sys.argv[1], int(sys.argv[2])
log_jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 0
log_mb = int(sys.argv[4]) if len(sys.argv) > 4 else 0
img = "berth-test/busybox:latest"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pids_of(name):
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def shim_kib():
    """Every containerd shim's RSS (one shim per running container on this engine)."""
    pids = pids_of("containerd-shim-runc-v2") or pids_of("containerd-shim")
    return sum(rss_kib(p) for p in pids), len(pids)


def dockerd_kib():
    return sum(rss_kib(p) for p in pids_of("dockerd"))


def cpu_s(pids):
    """User + system CPU seconds of these processes so far."""
    total = 0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def count(url, status):
    return len(api(f"{url}/v1/jobs?status={status}&limit=500")["jobs"])


def wait_for(what, check, limit):
    deadline = time.time() + limit
    while not check():
        if time.time() > deadline:
            raise SystemExit(f"bench_memory: {what} did not happen within {limit} s")
        time.sleep(0.5)


def log_load(url, pid):
    """LOGS jobs at once, each printing MB megabytes of 100-byte lines; each job's stored
    output must be byte-exact (under the default 10 MiB cap, so MB <= 10)."""
    line = ("0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:99]
    size = log_mb * 1_000_000
    want = hashlib.sha256(((line + "\n").encode() * (size // 100 + 1))[:size]).hexdigest()
    spec = {"image": img, "command": ["sh", "-c", f"yes {line} | head -c {size}"]}
    dockerd = pids_of("dockerd")
    cpu0, engine0, t0 = cpu_s([pid]), cpu_s(dockerd), time.perf_counter()
    ids = [api(f"{url}/v1/jobs", "POST", spec)["id"] for _ in range(log_jobs)]
    wait_for("every log job ended", lambda: count(url, "queued,starting,running") == 0, 120 + 10 * log_jobs)
    wall, cpu, engine = time.perf_counter() - t0, cpu_s([pid]) - cpu0, cpu_s(dockerd) - engine0
    exact = 0
    for job in ids:
        with urllib.request.urlopen(f"{url}/v1/jobs/{job}/logs") as r:
            body = r.read()
        exact += len(body) == size and hashlib.sha256(body).hexdigest() == want
    mb = log_jobs * log_mb
    print(f"log load, {log_jobs} jobs at once, {log_mb} MB of stdout each ({mb} MB in all)")
    print(f"  stored byte-exact                 {exact}/{log_jobs}")
    print(f"  wall time                         {wall:7.1f} s  ({mb / wall:.1f} MB/s through the engine)")
    print(f"  berth server CPU per MB           {cpu / mb * 1000:7.1f} ms")
    print(f"  peer: dockerd CPU per MB          {engine / mb * 1000:7.1f} ms")
    if exact != log_jobs:
        raise SystemExit("bench_memory: a job's stored output was not byte-exact")


data = tempfile.mkdtemp()
server, url = start_server(berth, data, n)
try:
    time.sleep(3)
    idle = rss_kib(server.pid)
    shims0, count0 = shim_kib()
    dockerd0 = dockerd_kib()
    ids = [api(f"{url}/v1/jobs", "POST", {"image": img, "command": ["sleep", "300"]})["id"] for _ in range(n)]
    wait_for(f"{n} jobs running", lambda: count(url, "running") == n, 60 + 3 * n)
    time.sleep(3)  # the stats streams open a second after each start
    busy = rss_kib(server.pid)
    shims1, count1 = shim_kib()
    dockerd1 = dockerd_kib()
    per_job = (busy - idle) / n
    shim_each = (shims1 - shims0) / max(count1 - count0, 1)
    dockerd_each = (dockerd1 - dockerd0) / n
    print(f"memory, {n} running jobs of `sleep` (resident set sizes from /proc)")
    print(f"  berth server idle                 {idle/1024:7.1f} MiB  (goal <= 30 MiB)")
    print(f"  berth server with {n:3d} running      {busy/1024:7.1f} MiB")
    print(f"  berth's own per running job       {per_job:7.0f} KiB  (goal <= 1024 KiB)")
    print(f"  peer: a containerd shim per job   {shim_each:7.0f} KiB  ({count1 - count0} new shims)")
    print(f"  peer: dockerd's growth per job    {dockerd_each:7.0f} KiB")
    print(f"  ratio berth / shim = {per_job / shim_each:.2f}" if shim_each > 0 else "  (no shim measured)")
    for job in ids:
        api(f"{url}/v1/jobs/{job}/cancel", "POST")
    wait_for("every job ended", lambda: count(url, "queued,starting,running") == 0, 120 + n)
    if log_jobs > 0:
        log_load(url, server.pid)
finally:
    server.terminate()
    server.wait()
    subprocess.run(["rm", "-rf", data])
left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=berth.managed=true"], capture_output=True,
                      text=True).stdout.split()
if left:
    raise SystemExit(f"bench_memory: {len(left)} container(s) left")
