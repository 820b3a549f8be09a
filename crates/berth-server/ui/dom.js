// A tiny DOM toolkit for the UI: `h` builds elements, plus the formatters every page uses.

/** h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string" && k !== "list") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** A table that scrolls sideways on a narrow screen: a named region the keyboard can reach. */
export function scrollBox(label, table) {
  return h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": label }, table);
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function announce(text) {
  const live = document.getElementById("announce");
  if (live) live.textContent = text;
}

export const FINISHED = ["succeeded", "failed", "timed_out", "cancelled", "lost", "error"];
export const STATUSES = ["queued", "starting", "running", ...FINISHED];

/** A coloured status word with the end reason, e.g. "failed · exited(3)". */
export function statusBadge(job) {
  const reason = job.reason_text && job.status !== "succeeded" ? ` · ${job.reason_text}` : "";
  return h("span", { class: `status status-${job.status}`, "data-status": job.status }, job.status + reason);
}

export function shortId(id) {
  return id.slice(0, 12);
}

export function age(ms, now = Date.now()) {
  if (ms == null) return "";
  return `${duration(now - ms)} ago`;
}

export function duration(ms) {
  if (ms == null || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function jobDuration(job, now = Date.now()) {
  if (!job.started_at) return "";
  return duration((job.finished_at ?? now) - job.started_at);
}

export function time(ms) {
  return ms == null ? "" : new Date(ms).toLocaleString();
}

export function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function labelsText(labels) {
  return Object.entries(labels ?? {}).map(([k, v]) => (v ? `${k}=${v}` : k)).join(", ");
}

/** Splits a command line like a shell would for words and quotes (no expansion). */
export function splitCommand(text) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`an unclosed ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}

/** Waits for a confirmation in an accessible modal dialog; resolves true or false. */
export function confirmDialog(question, yes, no = "Keep it") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title", class: "confirm" },
      h("h2", { id: "confirm-title" }, question),
      h("form", { method: "dialog" },
        h("button", { value: "no", type: "submit" }, no),
        h("button", { value: "yes", type: "submit", class: "danger" }, yes)));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
