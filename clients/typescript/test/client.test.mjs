// The client against a real `berth server` on Docker (scripts/test-typescript-client sets
// BERTH_URL, BERTH_TOKEN and BERTH_TEST_IMAGE).
import assert from "node:assert/strict";
import { test } from "node:test";

import { BerthClient, BerthError } from "../dist/index.js";
import { dockerNode } from "../examples/docker-node.mjs";

const url = process.env.BERTH_URL;
const image = process.env.BERTH_TEST_IMAGE ?? "berth-test/busybox:latest";
if (!url) throw new Error("BERTH_URL is not set: run through scripts/test-typescript-client");
const berth = new BerthClient(url, { token: process.env.BERTH_TOKEN });

test("submit, wait, logs and a failure with its exit code", async () => {
  const job = await berth.submit(image, ["sh", "-c", "echo out; echo err >&2; exit 3"]);
  assert.equal(job.status, "queued");
  const done = await berth.wait(job.id);
  assert.deepEqual([done.status, done.exit_code, done.reason_text], ["failed", 3, "exited(3)"]);
  const text = new TextDecoder().decode(await berth.logs(job.id));
  assert.deepEqual(text.split("\n").filter(Boolean).sort(), ["err", "out"]);
});

test("one idempotency key makes one job", async () => {
  const a = await berth.submit(image, ["true"], { idempotencyKey: "ts-once-1" });
  const b = await berth.submit(image, ["true"], { idempotencyKey: "ts-once-1" });
  assert.equal(a.id, b.id);
  await berth.wait(a.id);
});

test("a bad spec is a BerthError naming the field", async () => {
  await assert.rejects(berth.submit(image, ["true"], { spec: { timeouts: { run: "forever" } } }), (e) => {
    assert.ok(e instanceof BerthError);
    assert.equal(e.field, "timeouts.run");
    return true;
  });
  await assert.rejects(berth.get("0".repeat(32)), (e) => e instanceof BerthError && e.status === 404);
});

test("list pages through every job", async () => {
  const ids = new Set();
  for (let i = 0; i < 5; i++) ids.add((await berth.submit(image, ["true"], { spec: { labels: { page: "ts" } } })).id);
  const seen = [];
  for await (const j of berth.list({ label: "page=ts", pageSize: 2 })) seen.push(j.id);
  assert.deepEqual(new Set(seen), ids);
  assert.equal(seen.length, 5);
  for (const id of ids) await berth.wait(id);
});

test("follow gives every line once, then the end; events carry progress", async () => {
  const script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; echo '{\"berth\":\"progress\",\"percent\":100}'";
  const job = await berth.submit(image, ["sh", "-c", script]);
  const items = [];
  for await (const item of berth.follow(job.id)) items.push(item);
  const text = items.filter((i) => i.type === "log").map((i) => i.text).join("");
  assert.deepEqual(text.split("\n").filter(Boolean), Array.from({ length: 300 }, (_, i) => `line-${i}`));
  assert.equal(items.at(-1).type, "end");
  const events = [];
  for await (const e of berth.follow(job.id, "events")) events.push(e);
  assert.ok(events.some((e) => e.type === "event" && e.kind === "progress" && e.data.percent === 100));
});

test("a cut stream resumes without losing or repeating a line", async () => {
  const job = await berth.submit(image, ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo n-$i; i=$((i+1)); done"]);
  await berth.wait(job.id);
  // A fetch whose streamed bodies end after ~40 lines: a flaky network.
  const flaky = async (input, init) => {
    const r = await fetch(input, init);
    if (!String(input).includes("follow=true")) return r;
    const reader = r.body.getReader();
    let lines = 0;
    const body = new ReadableStream({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        lines += value.filter((b) => b === 10).length;
        if (lines >= 40) {
          reader.cancel();
          controller.error(new Error("cut by the test"));
        }
      },
    });
    return new Response(body, { status: r.status, headers: r.headers });
  };
  const client = new BerthClient(url, { token: process.env.BERTH_TOKEN, fetch: flaky });
  const items = [];
  for await (const item of client.follow(job.id, "logs", { maxReconnects: 1000 })) items.push(item);
  const text = items.filter((i) => i.type === "log").map((i) => i.text).join("");
  assert.deepEqual(text.split("\n").filter(Boolean), Array.from({ length: 2000 }, (_, i) => `n-${i}`));
});

test("an AbortSignal stops a follow", async () => {
  const job = await berth.submit(image, ["sh", "-c", "echo ready; sleep 60"]);
  const stop = new AbortController();
  await assert.rejects(async () => {
    for await (const item of berth.follow(job.id, "logs", { signal: stop.signal })) {
      if (item.type === "log") stop.abort();
    }
  }, (e) => e.name === "AbortError");
  const out = await berth.exec(job.id, ["sh", "-c", "echo inside; exit 4"]);
  assert.deepEqual([out.exit_code, out.stdout], [4, "inside\n"]);
  await berth.cancel(job.id);
  assert.equal((await berth.wait(job.id)).status, "cancelled");
});

test("results, artifacts, secrets and schedules", async () => {
  const script = 'echo \'{"answer": 42}\' > "$BERTH_OUTPUT_DIR/result.json"; printf "a\\000b" > "$BERTH_OUTPUT_DIR/bin"';
  const job = await berth.submit(image, ["sh", "-c", script]);
  assert.equal((await berth.wait(job.id)).status, "succeeded");
  assert.deepEqual(await berth.result(job.id), { answer: 42 });
  assert.deepEqual((await berth.artifacts(job.id)).map((a) => [a.name, a.size]), [["bin", 3]]);
  assert.deepEqual([...(await berth.artifact(job.id, "bin"))], [97, 0, 98]);
  await berth.setSecret("ts_token", "s3cr3t-from-typescript");
  assert.ok((await berth.secrets()).includes("ts_token"));
  await berth.deleteSecret("ts_token");
  const s = await berth.createSchedule("ts-nightly", "0 3 * * *", { image, command: ["true"] }, { timezone: "UTC" });
  assert.equal((await berth.pauseSchedule(s.id)).state, "paused");
  const made = await berth.triggerSchedule(s.id);
  assert.equal((await berth.wait(made.id)).status, "succeeded");
  await berth.deleteSchedule(s.id);
  assert.ok((await berth.schedules()).every((x) => x.id !== s.id));
});

test("the Docker node example returns exit code, stdout, stderr and duration", async () => {
  const out = await dockerNode(berth, { image, command: ["sh", "-c", "echo o; echo e >&2; exit 2"] });
  assert.deepEqual([out.status, out.exitCode, out.stdout, out.stderr], ["failed", 2, "o\n", "e\n"]);
  assert.ok(out.durationMs >= 0);
});
