// The new-job form: image, command, env, labels, limits, timeout and queue, checked here
// before submit, then the server's own field errors shown next to their fields.
import { api, ApiError } from "../api.js";
import { h, fill, splitCommand, announce } from "../dom.js";

const FIELDS = [
  ["image", "Image", "busybox:latest", "Required. A registry reference, e.g. python:3.12-slim."],
  ["command", "Command", "sh -c 'echo hello'", "Words split like a shell does; empty runs the image's own."],
  ["env", "Environment", "KEY=value, one a line", "One KEY=value a line."],
  ["labels", "Labels", "team=data, one a line", "One key=value a line."],
  ["memory", "Memory limit", "256m", "Bytes with a unit: 512k, 256m, 2g. Empty: the server's default."],
  ["cpus", "CPUs", "0.5", "A number of cores, e.g. 0.5 or 2."],
  ["timeout", "Timeout", "10m", "How long it may run: 90s, 10m, 2h."],
  ["queue", "Queue", "default", "Empty: default."],
];
const MULTILINE = new Set(["env", "labels"]);

export async function newJobPage(main) {
  const general = h("div", { role: "alert", class: "error", hidden: true });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "new-title" },
    h("h1", { id: "new-title" }, "New job"),
    FIELDS.map(([name, label, placeholder, help]) => h("div", { class: "field" },
      h("label", { for: `job-${name}` }, label),
      MULTILINE.has(name) || name === "command"
        ? h("textarea", { id: `job-${name}`, name, rows: name === "command" ? 2 : 3, placeholder, "aria-describedby": `job-${name}-help job-${name}-error` })
        : h("input", { id: `job-${name}`, name, placeholder, required: name === "image", "aria-describedby": `job-${name}-help job-${name}-error` }),
      h("p", { id: `job-${name}-help`, class: "help" }, help),
      h("p", { id: `job-${name}-error`, class: "field-error" }))),
    general,
    h("button", { type: "submit" }, "Submit job"));
  form.addEventListener("submit", (ev) => submit(ev, form, general));
  fill(main, form);
}

async function submit(ev, form, general) {
  ev.preventDefault();
  clearErrors(form, general);
  const values = Object.fromEntries(new FormData(form));
  const { spec, errors } = buildSpec(values);
  if (errors.length) return showErrors(form, general, errors);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const job = await api("/v1/jobs", { method: "POST", body: spec });
    announce(`Job ${job.id.slice(0, 12)} submitted`);
    location.hash = `#/jobs/${job.id}`;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showErrors(form, general, e.details.length ? e.details.map((d) => [formField(d.field), d.message, d.field]) : [[null, e.message]]);
  } finally {
    button.disabled = false;
  }
}

/** The spec, or the problems with the form, each `[field, message]`. */
export function buildSpec(v) {
  const errors = [];
  const spec = {};
  const image = v.image.trim();
  if (!image) errors.push(["image", "Enter an image, e.g. busybox:latest."]);
  else if (/\s/.test(image)) errors.push(["image", "An image reference has no spaces."]);
  else spec.image = image;
  try {
    const command = splitCommand(v.command);
    if (command.length) spec.command = command;
  } catch (e) {
    errors.push(["command", `The command has ${e.message}.`]);
  }
  for (const [name, key, pattern, hint] of [["env", "env", /^[A-Za-z_][A-Za-z0-9_]*$/, "KEY=value with a name of letters, digits and _"], ["labels", "labels", /^[^\s=]+$/, "key=value without spaces in the key"]]) {
    const map = {};
    for (const [i, line] of v[name].split("\n").entries()) {
      if (!line.trim()) continue;
      const eq = line.indexOf("=");
      const k = eq < 0 ? line.trim() : line.slice(0, eq).trim();
      if (eq < 0 || !pattern.test(k)) errors.push([name, `Line ${i + 1}: expected ${hint}.`]);
      else map[k] = line.slice(eq + 1);
    }
    if (Object.keys(map).length) spec[key] = map;
  }
  const resources = {};
  if (v.memory.trim()) {
    if (/^\d+(\.\d+)?\s*([kmgt]i?b?|b)?$/i.test(v.memory.trim())) resources.memory = v.memory.trim();
    else errors.push(["memory", "Use a size such as 512k, 256m or 2g."]);
  }
  if (v.cpus.trim()) {
    const n = Number(v.cpus);
    if (Number.isFinite(n) && n > 0) resources.cpus = n;
    else errors.push(["cpus", "Use a number of cores above 0, e.g. 0.5."]);
  }
  if (Object.keys(resources).length) spec.resources = resources;
  if (v.timeout.trim()) {
    if (/^(\d+(ms|s|m|h|d))+$/.test(v.timeout.trim())) spec.timeouts = { run: v.timeout.trim() };
    else errors.push(["timeout", "Use a duration such as 90s, 10m or 2h."]);
  }
  if (v.queue.trim()) spec.queue = v.queue.trim();
  return { spec, errors };
}

/** The form field a spec field belongs to (`resources.memory` → memory), or null. */
function formField(path = "") {
  const head = path.split(/[.[]/)[0];
  const map = { image: "image", command: "command", entrypoint: "command", env: "env", labels: "labels", queue: "queue", timeouts: "timeout" };
  if (head === "resources") return path.startsWith("resources.cpus") ? "cpus" : path.startsWith("resources.memory") ? "memory" : null;
  return map[head] ?? null;
}

function showErrors(form, general, errors) {
  const loose = [];
  let first = null;
  for (const [field, message, path] of errors) {
    const input = field && form.querySelector(`#job-${field}`);
    if (!input) {
      loose.push(path ? `${path}: ${message}` : message);
      continue;
    }
    const out = form.querySelector(`#job-${field}-error`);
    out.textContent = out.textContent ? `${out.textContent} ${message}` : message;
    input.setAttribute("aria-invalid", "true");
    first ??= input;
  }
  general.hidden = !loose.length;
  general.textContent = loose.join(" ");
  (first ?? general).focus?.();
  announce(`${errors.length} problem${errors.length > 1 ? "s" : ""} with the form`);
}

function clearErrors(form, general) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  general.hidden = true;
}
