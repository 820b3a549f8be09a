// The API's JSON as this client reads it (checked against the server's OpenAPI document by
// `npm run check-api`: test/api.check.ts).

export type JobStatus =
  | "queued" | "starting" | "running" | "succeeded" | "failed" | "cancelled" | "timed_out" | "error" | "lost";

/** A job spec: `image` and whatever else docs/spec.md describes. */
export interface JobSpec {
  image: string;
  command?: string[] | null;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  queue?: string | null;
  [field: string]: unknown;
}

export interface Job {
  id: string;
  status: JobStatus;
  image: string;
  tenant: string;
  queue: string;
  created_at: number;
  started_at?: number | null;
  finished_at?: number | null;
  exit_code?: number | null;
  reason_text?: string | null;
  labels?: Record<string, string>;
  result?: unknown;
  spec: JobSpec;
}

export interface JobPage {
  jobs: Job[];
  next_cursor?: string | null;
}

export interface LogLine {
  type: "log";
  seq: number;
  stream: "stdout" | "stderr" | string;
  attempt: number;
  at: number;
  text: string;
}

export interface JobEvent {
  type: "event";
  seq: number;
  kind: string;
  at: number;
  data: unknown;
}

export interface End {
  type: "end";
  status: JobStatus;
  reason?: string | null;
  exit_code?: number | null;
}

export interface Artifact {
  name: string;
  size: number;
  attempt: number;
}

export interface ExecResult {
  exit_code: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export interface Schedule {
  id: string;
  name: string;
  cron: string;
  state: string;
  [field: string]: unknown;
}

export const TERMINAL: ReadonlySet<JobStatus> =
  new Set<JobStatus>(["succeeded", "failed", "cancelled", "timed_out", "error", "lost"]);
