// Type-level test: what this client reads must exist, with a compatible type, in the
// server's OpenAPI document (test/api.generated.ts, made by `npm run check-api` from a live
// server). `tsc` fails here when the document and the client drift apart.

import type { components } from "./api.generated.js";
import type { Artifact, ExecResult, Job, JobPage } from "../src/types.js";

type S = components["schemas"];

export const job: Omit<Job, "spec" | "result"> = {} as S["JobView"];
export const page: Pick<JobPage, "next_cursor"> = {} as S["JobPage"];
export const artifact: Artifact = {} as S["ArtifactView"];
export const exec: ExecResult = {} as S["ExecResponse"];
export const status: Job["status"] = {} as S["JobView"]["status"];
