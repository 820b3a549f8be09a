// A workflow engine's "Docker node" executor (seeds 000, 001) on berth: the node's inputs
// become a job, its outputs are the exit code, stdout, stderr, duration and result. The run
// is durable (it outlives this process), capped and cleaned up; `signal` cancels it.
//
//   import { BerthClient } from "@berth/client";
//   const out = await dockerNode(new BerthClient(url, { token }), { image: "alpine", command: ["echo", "hi"] });

export async function dockerNode(berth, { image, command, env = {}, timeout = "10m", signal } = {}) {
  const job = await berth.submit(image, command, { spec: { env, timeouts: { run: timeout } }, signal });
  const out = { stdout: "", stderr: "" };
  const onAbort = () => berth.cancel(job.id).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const item of berth.follow(job.id, "logs", { signal })) {
      if (item.type === "log" && item.stream in out) out[item.stream] += item.text;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const done = await berth.get(job.id);
  const result = done.status === "succeeded" ? await berth.result(job.id).catch(() => null) : null;
  return {
    jobId: done.id,
    status: done.status,
    exitCode: done.exit_code ?? null,
    stdout: out.stdout,
    stderr: out.stderr,
    durationMs: (done.finished_at ?? 0) - (done.started_at ?? done.finished_at ?? 0),
    result,
  };
}

// node docker-node.mjs [IMAGE [COMMAND...]]: against ./scripts/demo's server by default
// (BERTH_URL, BERTH_TOKEN); Ctrl-C cancels the job.
if (process.argv[1] && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href) {
  const { BerthClient } = await import("@berth/client");
  const berth = new BerthClient(process.env.BERTH_URL ?? "http://127.0.0.1:8420", { token: process.env.BERTH_TOKEN });
  const [image = process.env.BERTH_TEST_IMAGE ?? "berth-test/busybox:latest", ...command] = process.argv.slice(2);
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  const out = await dockerNode(berth, {
    image,
    command: command.length ? command : ["sh", "-c", "echo hello from berth; echo a warning >&2; exit 3"],
    signal: stop.signal,
  });
  console.log(JSON.stringify(out, null, 1));
}
