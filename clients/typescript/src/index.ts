// berth's TypeScript client: submit container jobs to a `berth server`, watch them, follow
// their output and events live (resuming after a dropped connection without losing or
// repeating a line), read results and artifacts. Every call takes an AbortSignal.

import { randomUUID } from "node:crypto";

import { BerthError } from "./errors.js";
import { sseEvents } from "./sse.js";
import type {
  Artifact, End, ExecResult, Job, JobEvent, JobPage, JobSpec, LogLine, Schedule,
} from "./types.js";
import { TERMINAL } from "./types.js";

export * from "./types.js";
export { BerthError } from "./errors.js";

export interface ClientOptions {
  token?: string;
  /** Bounds each request (not a follow's whole stream). Default 30 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /** Retried submissions with one key make one job (a new key is made when absent). */
  idempotencyKey?: string;
}

export interface FollowOptions extends CallOptions {
  /** Start after this sequence number. */
  after?: number;
  maxReconnects?: number;
}

export type StreamItem = LogLine | JobEvent | End;

const jobPath = (id: string, ...rest: string[]) =>
  `/v1/jobs/${encodeURIComponent(id)}${rest.map((r) => `/${r}`).join("")}`;

export class BerthClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/+$/, "");
    this.headers = { "User-Agent": "berth-client-typescript/0.1.0" };
    if (options.token) this.headers.Authorization = `Bearer ${options.token}`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  private signal(signal?: AbortSignal, timeout = true): AbortSignal | undefined {
    const parts = [signal, timeout ? AbortSignal.timeout(this.timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : AbortSignal.any(parts);
  }

  private async request(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>;
    signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, Accept: init.accept ?? "application/json", ...init.headers };
    let body: string | undefined;
    if (init.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(init.body);
    }
    const r = await this.fetchImpl(this.base + path, { method, headers, body, signal: this.signal(init.signal) });
    if (r.status >= 400) throw await BerthError.from(r);
    return r;
  }

  private async json<T>(method: string, path: string, init: Parameters<BerthClient["request"]>[2] = {}): Promise<T> {
    const r = await this.request(method, path, init);
    return (r.status === 204 ? undefined : await r.json()) as T;
  }

  // Jobs

  /** Queues a job: an image and command (other spec fields in `spec`), or a whole spec. */
  submit(image: string | JobSpec, command?: string[], options: SubmitOptions & { spec?: Partial<JobSpec> } = {}): Promise<Job> {
    const spec: JobSpec = typeof image === "string" ? { image, ...options.spec } : { ...image };
    if (command) spec.command = command;
    const headers = { "Idempotency-Key": options.idempotencyKey ?? randomUUID() };
    return this.json<Job>("POST", "/v1/jobs", { body: spec, headers, signal: options.signal });
  }

  get(id: string, options: CallOptions = {}): Promise<Job> {
    return this.json<Job>("GET", jobPath(id), options);
  }

  /** Every matching job, newest first, a page at a time as it is iterated. */
  async *list(filter: { status?: string; queue?: string; label?: string; image?: string; pageSize?: number } = {},
    options: CallOptions = {}): AsyncGenerator<Job> {
    const params = new URLSearchParams();
    for (const key of ["status", "queue", "label", "image"] as const) {
      if (filter[key]) params.set(key, filter[key] as string);
    }
    params.set("limit", String(filter.pageSize ?? 100));
    for (;;) {
      const page = await this.json<JobPage>("GET", `/v1/jobs?${params}`, options);
      yield* page.jobs;
      if (!page.next_cursor) return;
      params.set("cursor", page.next_cursor);
    }
  }

  cancel(id: string, options: CallOptions = {}): Promise<Job> {
    return this.json<Job>("POST", jobPath(id, "cancel"), options);
  }

  retry(id: string, options: CallOptions = {}): Promise<Job> {
    return this.json<Job>("POST", jobPath(id, "retry"), options);
  }

  async delete(id: string, options: CallOptions = {}): Promise<void> {
    await this.request("DELETE", jobPath(id), options);
  }

  /** Resolves once the job has ended (following its events, not polling). */
  async wait(id: string, options: CallOptions = {}): Promise<Job> {
    for await (const item of this.follow(id, "events", options)) {
      if (item.type === "end") break;
    }
    const job = await this.get(id, options);
    if (!TERMINAL.has(job.status)) throw new Error(`job ${id} is still ${job.status}`);
    return job;
  }

  // Output

  /** The stored output, byte-exact. */
  async logs(id: string, options: CallOptions = {}): Promise<Uint8Array> {
    const r = await this.request("GET", jobPath(id, "logs"), { ...options, accept: "text/plain" });
    return new Uint8Array(await r.arrayBuffer());
  }

  /** The job's `logs` (LogLine) or `events` (JobEvent) as they happen, then End. A dropped
   * connection resumes from the last id seen (Last-Event-ID): nothing lost or repeated. */
  async *follow(id: string, what: "logs" | "events" = "logs", options: FollowOptions = {}): AsyncGenerator<StreamItem> {
    let last = options.after === undefined ? undefined : String(options.after);
    let failures = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      if (last !== undefined) headers["Last-Event-ID"] = last;
      let r: Response;
      try {
        r = await this.fetchImpl(`${this.base}${jobPath(id, what)}?follow=true`, {
          headers: { ...this.headers, Accept: "text/event-stream", ...headers },
          signal: this.signal(options.signal, false),
        });
      } catch (e) {
        if (options.signal?.aborted || ++failures > (options.maxReconnects ?? 20)) throw e;
        await new Promise((ok) => setTimeout(ok, Math.min(200 * failures, 2000)));
        continue;
      }
      if (r.status >= 400) throw await BerthError.from(r);
      try {
        for await (const ev of sseEvents(r.body as ReadableStream<Uint8Array>)) {
          const d = (ev.data ?? {}) as Record<string, unknown>;
          if (ev.event === "end") {
            yield { type: "end", status: d.status as End["status"], reason: d.reason as string, exit_code: d.exit_code as number };
            return;
          }
          if (ev.id === undefined) continue;
          last = ev.id;
          failures = 0;
          const seq = Number(ev.id);
          if (ev.event === "log") {
            yield { type: "log", seq, stream: String(d.stream), attempt: Number(d.attempt), at: Number(d.at), text: String(d.text) };
          } else {
            yield { type: "event", seq, kind: String(d.kind ?? ev.event), at: Number(d.at ?? 0), data: d.data ?? d };
          }
        }
      } catch (e) {
        if (options.signal?.aborted || ++failures > (options.maxReconnects ?? 20)) throw e;
      }
      await new Promise((ok) => setTimeout(ok, Math.min(200 * failures, 2000)));
    }
  }

  result(id: string, options: CallOptions = {}): Promise<unknown> {
    return this.json<unknown>("GET", jobPath(id, "result"), options);
  }

  artifacts(id: string, options: CallOptions = {}): Promise<Artifact[]> {
    return this.json<Artifact[]>("GET", jobPath(id, "artifacts"), options);
  }

  async artifact(id: string, name: string, options: CallOptions = {}): Promise<Uint8Array> {
    const r = await this.request("GET", jobPath(id, "artifacts", encodeURIComponent(name)), { ...options, accept: "*/*" });
    return new Uint8Array(await r.arrayBuffer());
  }

  exec(id: string, command: string[], extra: { env?: Record<string, string>; user?: string; workdir?: string } = {},
    options: CallOptions = {}): Promise<ExecResult> {
    return this.json<ExecResult>("POST", jobPath(id, "exec"), { body: { command, ...extra }, signal: options.signal });
  }

  // Schedules

  createSchedule(name: string, cron: string, spec: JobSpec, extra: Record<string, unknown> = {},
    options: CallOptions = {}): Promise<Schedule> {
    return this.json<Schedule>("POST", "/v1/schedules", { body: { name, cron, spec, ...extra }, signal: options.signal });
  }

  async schedules(options: CallOptions = {}): Promise<Schedule[]> {
    const d = await this.json<{ schedules: Schedule[] } | Schedule[]>("GET", "/v1/schedules", options);
    return Array.isArray(d) ? d : d.schedules;
  }

  schedule(idOrName: string, options: CallOptions = {}): Promise<Schedule> {
    return this.json<Schedule>("GET", `/v1/schedules/${encodeURIComponent(idOrName)}`, options);
  }

  pauseSchedule(idOrName: string, options: CallOptions = {}): Promise<Schedule> {
    return this.json<Schedule>("POST", `/v1/schedules/${encodeURIComponent(idOrName)}/pause`, options);
  }

  resumeSchedule(idOrName: string, options: CallOptions = {}): Promise<Schedule> {
    return this.json<Schedule>("POST", `/v1/schedules/${encodeURIComponent(idOrName)}/resume`, options);
  }

  triggerSchedule(idOrName: string, options: CallOptions = {}): Promise<Job> {
    return this.json<Job>("POST", `/v1/schedules/${encodeURIComponent(idOrName)}/trigger`, options);
  }

  async deleteSchedule(idOrName: string, options: CallOptions = {}): Promise<void> {
    await this.request("DELETE", `/v1/schedules/${encodeURIComponent(idOrName)}`, options);
  }

  // Secrets

  async setSecret(name: string, value: string, options: CallOptions = {}): Promise<void> {
    await this.request("PUT", `/v1/secrets/${encodeURIComponent(name)}`, { body: { value }, signal: options.signal });
  }

  async secrets(options: CallOptions = {}): Promise<string[]> {
    const d = await this.json<{ secrets: { name: string }[] } | { name: string }[]>("GET", "/v1/secrets", options);
    return (Array.isArray(d) ? d : d.secrets).map((s) => s.name);
  }

  async deleteSecret(name: string, options: CallOptions = {}): Promise<void> {
    await this.request("DELETE", `/v1/secrets/${encodeURIComponent(name)}`, options);
  }
}
