"""The client against a real server: every verb, the errors, and a followed stream whose
connection is cut and resumed."""
import threading

import httpx
import pytest

from berth_client import End, Event, InvalidSpec, LogLine, NotFound


def test_submit_wait_logs_and_a_failure_with_its_exit_code(berth, image):
    job = berth.submit(image, ["sh", "-c", "echo out; echo err >&2; exit 3"], labels={"suite": "python"})
    assert job.status == "queued" and job.image == image
    done = berth.wait(job.id, timeout=60)
    assert (done.status, done.exit_code, done.reason) == ("failed", 3, "exited(3)")
    assert sorted(berth.logs(job.id).splitlines()) == [b"err", b"out"]


def test_idempotency_key_makes_one_job(berth, image):
    a = berth.submit(image, ["true"], idempotency_key="py-once-1")
    b = berth.submit(image, ["true"], idempotency_key="py-once-1")
    assert a.id == b.id
    berth.wait(a.id, timeout=60)


def test_a_bad_spec_names_its_field_and_an_unknown_job_is_not_found(berth, image):
    with pytest.raises(InvalidSpec) as e:
        berth.submit(image, ["true"], timeouts={"run": "forever"})
    assert e.value.status in (400, 422) and e.value.field == "timeouts.run", e.value
    with pytest.raises(NotFound):
        berth.get("0" * 32)


def test_list_pages_through_every_job(berth, image):
    ids = {berth.submit(image, ["true"], labels={"page": "walk"}).id for _ in range(5)}
    seen = [j.id for j in berth.list(label="page=walk", page_size=2)]
    assert set(seen) == ids and len(seen) == 5, "every job once, across pages of 2"
    for i in ids:
        berth.wait(i, timeout=60)


def test_follow_gives_every_line_once_then_the_end(berth, image):
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; echo '{\"berth\":\"progress\",\"percent\":100}'"
    job = berth.submit(image, ["sh", "-c", script])
    items = list(berth.follow(job.id))
    lines = "".join(i.text for i in items if isinstance(i, LogLine)).splitlines()
    assert lines == [f"line-{i}" for i in range(300)]
    assert isinstance(items[-1], End) and items[-1].status == "succeeded"
    events = [e for e in berth.follow(job.id, "events") if isinstance(e, Event)]
    assert any(e.kind == "progress" and e.data.get("percent") == 100 for e in events), events


class CutEvery(httpx.BaseTransport):
    """Ends every streamed response after `n` lines: a flaky network in the middle of a follow."""

    def __init__(self, n):
        self.inner, self.n = httpx.HTTPTransport(), n

    def handle_request(self, request):
        r = self.inner.handle_request(request)
        if "follow=true" not in str(request.url):
            return r
        n, stream = self.n, r.stream

        class Cut(httpx.SyncByteStream):
            def __iter__(self):
                seen = 0
                for chunk in stream:
                    yield chunk
                    seen += chunk.count(b"\n")
                    if seen >= n:
                        raise httpx.RemoteProtocolError("cut by the test")

            def close(self):
                stream.close()

        return httpx.Response(r.status_code, headers=r.headers, stream=Cut(), request=request)


def test_a_cut_stream_resumes_without_losing_or_repeating_a_line(berth, image):
    import os
    from berth_client import Client
    job = berth.submit(image, ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo n-$i; i=$((i+1)); done"])
    berth.wait(job.id, timeout=60)
    with Client(os.environ["BERTH_URL"], os.environ.get("BERTH_TOKEN"), transport=CutEvery(50)) as flaky:
        items = list(flaky.follow(job.id, max_reconnects=500))
    text = "".join(i.text for i in items if isinstance(i, LogLine))
    assert text.splitlines() == [f"n-{i}" for i in range(2000)]
    assert isinstance(items[-1], End)


def test_cancel_a_running_job_and_exec_in_it(berth, image):
    job = berth.submit(image, ["sh", "-c", "echo ready; sleep 60"])
    for item in berth.follow(job.id):
        if isinstance(item, LogLine) and "ready" in item.text:
            break
    out = berth.exec(job.id, ["sh", "-c", "echo inside; exit 4"])
    assert (out.exit_code, out.stdout) == (4, "inside\n")
    berth.cancel(job.id)
    assert berth.wait(job.id, timeout=60).status == "cancelled"


def test_result_and_artifacts(berth, image):
    script = 'echo \'{"answer": 42}\' > "$BERTH_OUTPUT_DIR/result.json"; mkdir -p "$BERTH_OUTPUT_DIR/d"; printf "a\\000b" > "$BERTH_OUTPUT_DIR/d/bin"'
    job = berth.submit(image, ["sh", "-c", script])
    assert berth.wait(job.id, timeout=60).succeeded
    assert berth.result(job.id) == {"answer": 42}
    assert [(a.name, a.size) for a in berth.artifacts(job.id)] == [("d/bin", 3)]
    assert berth.artifact(job.id, "d/bin") == b"a\x00b"


def test_secrets_and_schedules(berth, image):
    berth.set_secret("py_token", "s3cr3t-from-python")
    assert "py_token" in berth.secrets()
    job = berth.submit(image, ["sh", "-c", "echo ${#TOKEN}; echo $TOKEN"], secrets=[{"name": "py_token", "env": "TOKEN"}])
    berth.wait(job.id, timeout=60)
    assert berth.logs(job.id) == b"18\n***\n"
    berth.delete_secret("py_token")
    s = berth.create_schedule("py-nightly", "0 3 * * *", {"image": image, "command": ["true"]}, timezone="Europe/Paris")
    assert berth.schedule("py-nightly").id == s.id
    assert berth.pause_schedule(s.id).state == "paused"
    made = berth.trigger_schedule(s.id)
    assert berth.wait(made.id, timeout=60).succeeded
    berth.delete_schedule(s.id)
    assert all(x.id != s.id for x in berth.schedules())


async def test_the_async_client_does_the_same(aberth, image):
    job = await aberth.submit(image, ["sh", "-c", "echo async"])
    lines = [i.text async for i in aberth.follow(job.id) if isinstance(i, LogLine)]
    assert lines == ["async\n"]
    assert (await aberth.wait(job.id, timeout=60)).succeeded
    seen = [j.id async for j in aberth.list(page_size=1)]
    assert job.id in seen
