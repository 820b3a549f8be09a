"""What the bench scripts share: `berth server` on a data dir (its address read from the line
it prints when it listens), and calls to its API. Imported by bench_server.py,
bench_memory.py and bench_history.py."""
import json, os, subprocess, threading, urllib.request


def start_server(berth, data, workers):
    """`berth server` on `data` with `workers` slots and no auth; (process, base URL)."""
    env = dict(os.environ, BERTH_DATA_DIR=data)
    p = subprocess.Popen([berth, "server", "--listen", "127.0.0.1:0", "--workers", str(workers), "--insecure-no-auth"],
                         env=env, stderr=subprocess.PIPE, text=True)
    url = None
    while url is None:
        line = p.stderr.readline()
        if not line:
            raise SystemExit("berth server exited before it listened")
        url = next((w for w in line.split() if w.startswith("http://")), None)
    # Keep draining its stderr so it never blocks on a full pipe.
    threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()
    return p, url


def api(url, method="GET", body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
