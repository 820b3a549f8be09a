#!/usr/bin/env python3
"""Two berth builds side by side in one run (the same loops as scripts/bench parts 1 and 2):
start-to-exit of `berth run IMG true` for OLD, NEW and NEW with the archive API transfer, against
`docker run --rm` with the same flags, alternating; then 200 MB of live logs through OLD, NEW and
`docker run` attach. Usage: scripts/bench_ab.py OLD_BERTH NEW_BERTH [RUNS] [MEGABYTES]."""
import os, statistics, subprocess, sys, time, tempfile
old, new = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 21
img = "berth-test/busybox:latest"
like = ["--init", "--network", "bridge", "--memory", "2g", "--memory-swap", "2g", "--pids-limit", "1024",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
def timed(cmd, env=None):
    t = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env); return time.perf_counter() - t
envs = {}
for name in ("old", "new", "arch"):
    d = tempfile.mkdtemp(); e = dict(os.environ, BERTH_DATA_DIR=d)
    if name == "arch": e["BERTH_DOCKER_TRANSFER"] = "archive"
    envs[name] = e
cmds = {"old": ([old, "run", img, "true"], envs["old"]), "new": ([new, "run", img, "true"], envs["new"]),
        "arch": ([new, "run", img, "true"], envs["arch"]), "docker": (["docker", "run", "--rm", *like, img, "true"], None)}
res = {k: [] for k in cmds}
for k, (c, e) in cmds.items(): timed(c, e)
order = list(cmds)
for i in range(runs):
    for k in (order if i % 2 == 0 else order[::-1]):
        c, e = cmds[k]; res[k].append(timed(c, e))
d = statistics.median(res["docker"])
for k in order:
    m = statistics.median(res[k]); print(f"{k:7s} median {m*1000:7.1f} ms  ratio/docker {m/d:.2f}")
# log throughput, 200 MB
mb = int(sys.argv[4]) if len(sys.argv) > 4 else 200
script = f"yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn | head -c {mb*1000000}"
tp = {"old": [], "new": [], "attach": []}
for i in range(3):
    for k in ("old", "new", "attach"):
        if k == "attach": c, e = ["docker", "run", "--rm", *like, img, "sh", "-c", script], None
        else: c, e = ([old if k == "old" else new, "run", img, "sh", "-c", script], envs[k])
        tp[k].append(mb / timed(c, e))
a = statistics.median(tp["attach"])
for k in tp:
    m = statistics.median(tp[k]); print(f"logs {k:7s} {m:6.1f} MB/s ratio/attach {m/a:.2f}")
