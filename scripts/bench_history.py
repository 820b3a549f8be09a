"""Cost at a million (issue 16, item 2): a store filled by SQL with N finished jobs (each
with its labels, a log chunk and three status events), then `berth server` on it answering
`GET /v1/jobs` (first page, filtered by status, by label, and twenty pages deep by cursor)
and `/metrics`, against the same store with 1,000 jobs in the same run, and the store's size
on disk. The embedded SQLite store; with `--pg URL` (a server URL without a database, whose
user owns what it makes; scripts run as root, which creates the databases as `postgres`)
PostgreSQL instead, a fresh database per size. Run by
scripts/bench (and by scripts/test small, to keep it working); argv: BERTH N [--pg URL]."""
import json, os, sqlite3, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import start_server  # noqa: E402

berth, n = sys.argv[1], int(sys.argv[2])
pg = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--pg" else None
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


PG_SPEC = ("json_build_object('image','berth-test/busybox:latest','pull','if-not-present','command',json_build_array('true'),"
           "'labels',json_build_object('team','t'||(i%100)),'workspace_dir','/workspace','resources','{}'::json,"
           "'security','{}'::json,'timeouts',json_build_object('run','1h','stop_grace','10s'),"
           "'output',json_build_object('log_cap',10485760,'result_file','result.json','result_cap',1048576,"
           "'artifacts_cap',104857600))::text")


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, capture_output=True)


def fill_pg(data, jobs):
    """A fresh database migrated by berth, then `jobs` finished jobs as `fill` makes them;
    returns the database's size. Sets BERTH_STORE for the server."""
    db = f"berth_hist_{jobs}"
    # As the postgres superuser (scripts run as root), owned by the URL's user.
    owner = pg.split("://", 1)[1].split(":", 1)[0]
    for sql in (f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db} OWNER {owner}"):
        subprocess.run(["su", "postgres", "-c", f'psql -q -v ON_ERROR_STOP=1 -c "{sql}"'], check=True, capture_output=True)
    url = f"{pg}/{db}"
    os.environ["BERTH_STORE"] = url
    env = dict(os.environ, BERTH_DATA_DIR=data)
    subprocess.run([berth, "ps", "-a", "-q"], env=env, check=True, capture_output=True)
    now = int(time.time() * 1000)
    psql(url, f"""
    INSERT INTO jobs (id, spec, tenant, queue, status, reason, exit_code, attempts, created_at, started_at,
                      finished_at, run_at)
    SELECT lpad(to_hex(i), 32, '0'), {PG_SPEC}, 'local', 'default',
           CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
           CASE WHEN i % 10 = 0 THEN '{{"kind":"exited","code":1}}' ELSE '{{"kind":"exited","code":0}}' END,
           CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, 1,
           {now} - ({jobs} - i) * 1000, {now} - ({jobs} - i) * 1000 + 200, {now} - ({jobs} - i) * 1000 + 400,
           {now} - ({jobs} - i) * 1000
    FROM generate_series(1, {jobs}) i;
    INSERT INTO job_labels (job_id, key, value, job_created_at)
    SELECT j.id, l.key, l.value, j.created_at FROM jobs j, jsonb_each_text(j.spec::jsonb -> 'labels') l;
    INSERT INTO log_chunks (job_id, seq, attempt, stream, at, data)
    SELECT id, 0, 1, 1, finished_at, convert_to('hello from a finished job' || chr(10), 'UTF8') FROM jobs;
    INSERT INTO events (job_id, seq, at, kind, data)
    SELECT id, s.seq, created_at, 'status', s.data FROM jobs,
      (VALUES (1, '{{"status":"queued"}}'), (2, '{{"status":"running"}}'), (3, '{{"status":"succeeded"}}')) AS s(seq, data);
    """)
    psql(url, "VACUUM ANALYZE")
    out = subprocess.run(["psql", "-At", url, "-c", "SELECT pg_database_size(current_database())"],
                         check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


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
    size = fill_pg(data, jobs) if pg else fill(data, jobs)
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
        if pg:
            sql = f"DROP DATABASE IF EXISTS berth_hist_{jobs} WITH (FORCE)"
            subprocess.run(["su", "postgres", "-c", f'psql -q -c "{sql}"'], capture_output=True)


times = 100 if n >= 100_000 else 20
small, big = measure(1000, times), measure(n, times)
print(f"cost at {n:,} finished jobs (each with a log chunk and 3 events) vs 1,000, {'PostgreSQL' if pg else 'SQLite'} store")
print(f"  {'':34s} {'1,000':>18s} {n:>18,}")
print(f"  {'store on disk':34s} {small['size']/1e6:15.1f} MB {big['size']/1e6:15.1f} MB")
for key, name in (("first", "GET /v1/jobs?limit=50"), ("failed", "  ...&status=failed"), ("label", "  ...&label=team=t7 (1%)"),
                  ("nolabel", "  ...&label=team=nobody (none)"),
                  ("metrics", "GET /metrics")):
    s, b = small[key], big[key]
    print(f"  {name:34s} p50 {p(s, 50):6.1f} p99 {p(s, 99):6.1f} ms   p50 {p(b, 50):7.1f} p99 {p(b, 99):7.1f} ms")
print(f"  {'20th page by cursor (status)':34s} {small['deep']:15.1f} ms {big['deep']:15.1f} ms")
