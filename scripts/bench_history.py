"""Cost at a million (issue 16, item 2), on the embedded SQLite store: a store filled by SQL
with N finished jobs (each with a log chunk and three status events), then `berth server`
on it answering `GET /v1/jobs` (first page, filtered by status, by label, and twenty pages
deep by cursor) and `/metrics`, against the same store with 1,000 jobs in the same run, and
the store's size on disk. Run by scripts/bench (and by scripts/test small, to keep it
working); argv: BERTH N."""
import json, os, sqlite3, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import start_server  # noqa: E402

berth, n = sys.argv[1], int(sys.argv[2])
SPEC = ("json_object('image','berth-test/busybox:latest','pull','if-not-present','command',json_array('true'),"
        "'labels',json_object('team','t'||(i%100)),'workspace_dir','/workspace','resources',json_object(),"
        "'security',json_object(),'timeouts',json_object('run','1h','stop_grace','10s'),"
        "'output',json_object('log_cap',10485760,'result_file','result.json','result_cap',1048576,"
        "'artifacts_cap',104857600))")


def fill(data, jobs):
    """A store made by berth itself (its migrations), then `jobs` finished jobs by SQL, one
    second apart, every tenth failed, with their label rows as berth writes them."""
    env = dict(os.environ, BERTH_DATA_DIR=data)
    subprocess.run([berth, "ps", "-a", "-q"], env=env, check=True, capture_output=True)
    db = sqlite3.connect(os.path.join(data, "berth.db"))
    now = int(time.time() * 1000)
    db.executescript(f"""
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {jobs})
    INSERT INTO jobs (id, spec, tenant, queue, status, reason, exit_code, attempts, created_at, started_at,
                      finished_at, run_at)
    SELECT printf('%032x', i), {SPEC}, 'local', 'default',
           CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
           CASE WHEN i % 10 = 0 THEN '{{"kind":"exited","code":1}}' ELSE '{{"kind":"exited","code":0}}' END,
           CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, 1,
           {now} - ({jobs} - i) * 1000, {now} - ({jobs} - i) * 1000 + 200, {now} - ({jobs} - i) * 1000 + 400,
           {now} - ({jobs} - i) * 1000
    FROM n;
    INSERT INTO job_labels (job_id, key, value, job_created_at)
    SELECT j.id, l.key, l.value, j.created_at FROM jobs j, json_each(j.spec, '$.labels') l;
    INSERT INTO log_chunks (job_id, seq, attempt, stream, at, data)
    SELECT id, 0, 1, 1, finished_at, CAST('hello from a finished job' || char(10) AS BLOB) FROM jobs;
    INSERT INTO events (job_id, seq, at, kind, data)
    SELECT id, s.seq, created_at, 'status', s.data FROM jobs,
      (SELECT 1 AS seq, '{{"status":"queued"}}' AS data UNION ALL SELECT 2, '{{"status":"running"}}'
       UNION ALL SELECT 3, '{{"status":"succeeded"}}') AS s;
    """)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("berth.db"))


def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url) as r:
        body = r.read()
    return time.perf_counter() - t, body


def timings(url, times):
    get(url)  # warm
    return sorted(get(url)[0] for _ in range(times))


def p(xs, q):
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] * 1000


def deep(url):
    """Twenty pages of 50 by cursor: the time of the twentieth page."""
    cursor, last = None, 0.0
    for _ in range(20):
        dt, body = get(f"{url}/v1/jobs?status=succeeded&limit=50" + (f"&cursor={cursor}" if cursor else ""))
        cursor, last = json.loads(body)["next_cursor"], dt
    return last * 1000


def measure(jobs, times):
    data = tempfile.mkdtemp()
    size = fill(data, jobs)
    server, url = start_server(berth, data, 0)
    try:
        first = timings(f"{url}/v1/jobs?limit=50", times)
        failed = timings(f"{url}/v1/jobs?status=failed&limit=50", times)
        label = timings(f"{url}/v1/jobs?label=team=t7&limit=50", max(times // 10, 3))
        # A label no job has: the worst case, every job's labels read.
        nolabel = timings(f"{url}/v1/jobs?label=team=nobody&limit=50", 3)
        metrics = timings(f"{url}/metrics", max(times // 10, 3))
        return {"size": size, "first": first, "failed": failed, "label": label, "nolabel": nolabel, "deep": deep(url), "metrics": metrics}
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", data])


times = 100 if n >= 100_000 else 20
small, big = measure(1000, times), measure(n, times)
print(f"cost at {n:,} finished jobs (each with a log chunk and 3 events) vs 1,000, SQLite store")
print(f"  {'':34s} {'1,000':>18s} {n:>18,}")
print(f"  {'store on disk':34s} {small['size']/1e6:15.1f} MB {big['size']/1e6:15.1f} MB")
for key, name in (("first", "GET /v1/jobs?limit=50"), ("failed", "  ...&status=failed"), ("label", "  ...&label=team=t7 (1%)"),
                  ("nolabel", "  ...&label=team=nobody (none)"),
                  ("metrics", "GET /metrics")):
    s, b = small[key], big[key]
    print(f"  {name:34s} p50 {p(s, 50):6.1f} p99 {p(s, 99):6.1f} ms   p50 {p(b, 50):7.1f} p99 {p(b, 99):7.1f} ms")
print(f"  {'20th page by cursor (status)':34s} {small['deep']:15.1f} ms {big['deep']:15.1f} ms")
