// How the UI talks to berth: the public API only, with the bearer token kept in this tab's
// session storage; API errors as ApiError (with the field they name); and Server-Sent Events
// read through fetch (EventSource cannot send a token) that resume with Last-Event-ID, so a
// dropped connection neither loses nor repeats a line.

const KEY = "berth.token";

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (t) => sessionStorage.setItem(KEY, t),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `the server answered ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
    this.details = body?.error?.details ?? (this.field ? [{ field: this.field, message: this.message }] : []);
  }
}

function headers(extra = {}) {
  const t = session.token();
  return t ? { authorization: `Bearer ${t}`, ...extra } : extra;
}

/** A JSON call: `api("/v1/jobs", {method: "POST", body})`. 401 sends the user to sign in. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { "content-type": "application/json" }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) {
    const err = new ApiError(res.status, await res.json().catch(() => null));
    if (res.status === 401) window.dispatchEvent(new CustomEvent("berth:unauthorized"));
    throw err;
  }
  const type = res.headers.get("content-type") ?? "";
  return type.includes("json") ? res.json() : null;
}

/** Downloads a file the API serves (with the token) under the given name. */
export async function download(path, name) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Yields `{event, id, data}` from an SSE endpoint until its `end` event (or `signal` aborts),
 * reconnecting after a dropped connection from the last id seen. Yields
 * `{event: "reconnecting"}` while it waits to reconnect.
 */
export async function* sse(path, { signal } = {}) {
  let last = null;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      const extra = { accept: "text/event-stream" };
      if (last !== null) extra["last-event-id"] = last;
      const res = await fetch(path, { headers: headers(extra), signal });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        failures = 0;
        buffer += value.replaceAll("\r\n", "\n");
        // One pass over what arrived (a chunk can hold thousands of events), then one cut.
        let start = 0;
        let cut;
        while ((cut = buffer.indexOf("\n\n", start)) >= 0) {
          const event = parseEvent(buffer.slice(start, cut));
          start = cut + 2;
          if (!event) continue;
          if (event.id !== null) last = event.id;
          yield event;
          if (event.event === "end") return;
        }
        buffer = buffer.slice(start);
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof ApiError && e.status < 500) throw e;
    }
    failures++;
    yield { event: "reconnecting", id: null, data: null };
    await sleep(Math.min(5000, 200 * 2 ** failures), signal);
  }
}

function parseEvent(block) {
  let event = "message";
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { event, id, data: parsed };
}
