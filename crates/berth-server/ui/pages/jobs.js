// The jobs table: live (refreshed every 2 s without reloading), filtered by status, queue,
// label and image (kept in the address, so a filtered view can be shared), searched by id
// prefix or label, and paged by cursor.
import { api, ApiError } from "../api.js";
import { h, fill, scrollBox, statusBadge, shortId, age, jobDuration, labelsText, STATUSES } from "../dom.js";
import { every } from "./live.js";

const FILTERS = ["status", "queue", "label", "image"];

export async function jobsPage(main, { params, signal }) {
  const form = filterForm(params);
  const table = h("table", { class: "jobs" },
    h("caption", { class: "visually-hidden" }, "Jobs, newest first"),
    h("thead", {}, h("tr", {}, ["Job", "Status", "Image", "Command", "Queue", "Tenant", "Labels", "Age", "Duration"].map((c) => h("th", { scope: "col" }, c)))));
  const body = h("tbody");
  table.append(body);
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const note = h("p", { class: "muted", "aria-live": "polite" });
  fill(main, h("h1", {}, "Jobs"), form, note, scrollBox("Jobs table", table), pager);

  const q = params.get("q")?.trim();
  await every(2000, signal, async () => {
    const { jobs, next } = await load(params, q, signal);
    fill(body, jobs.length ? jobs.map(row) : h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No jobs match.")));
    note.textContent = q ? `Search: ${q}` : "";
    fill(pager,
      params.get("cursor") && h("a", { href: link(params, { cursor: null }) }, "Newest"),
      next && h("a", { href: link(params, { cursor: next }), rel: "next" }, "Older"));
  });
}

async function load(params, q, signal) {
  if (q && /^[0-9a-f]{4,32}$/i.test(q)) {
    try {
      return { jobs: [await api(`/v1/jobs/${q.toLowerCase()}`, { signal })], next: null };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 400)) return { jobs: [], next: null };
      throw e;
    }
  }
  const query = new URLSearchParams({ limit: "50" });
  for (const f of [...FILTERS, "cursor"]) if (params.get(f)) query.set(f, params.get(f));
  if (q) query.set("label", [params.get("label"), q].filter(Boolean).join(","));
  const page = await api(`/v1/jobs?${query}`, { signal });
  return { jobs: page.jobs, next: page.next_cursor };
}

function row(job) {
  const command = (job.spec.command ?? []).join(" ");
  // data-label names each cell where a phone shows a row as a card (style.css).
  return h("tr", {},
    h("td", { "data-label": "Job" }, h("a", { href: `#/jobs/${job.id}`, class: "mono" }, shortId(job.id)), job.name && h("div", { class: "muted" }, job.name)),
    h("td", { "data-label": "Status" }, statusBadge(job)),
    h("td", { class: "mono", "data-label": "Image" }, job.image),
    h("td", { class: "mono clip", title: command, "data-label": "Command" }, command),
    h("td", { "data-label": "Queue" }, job.queue),
    h("td", { "data-label": "Tenant" }, job.tenant),
    h("td", { "data-label": "Labels" }, labelsText(job.labels)),
    h("td", { "data-label": "Age" }, age(job.created_at)),
    h("td", { "data-label": "Duration" }, jobDuration(job)));
}

function filterForm(params) {
  const field = (name, label, input) => h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), input);
  const text = (name, placeholder) => h("input", { id: `f-${name}`, name, value: params.get(name) ?? "", placeholder });
  const status = h("select", { id: "f-status", name: "status" },
    h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: params.get("status") === s }, s)));
  return h("form", { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    const next = new URLSearchParams();
    for (const [k, v] of data) if (String(v).trim()) next.set(k, String(v).trim());
    location.hash = `#/jobs?${next}`;
  } },
    field("q", "Search", text("q", "id prefix or key=value")),
    field("status", "Status", status),
    field("queue", "Queue", text("queue", "default")),
    field("label", "Label", text("label", "team=data")),
    field("image", "Image", text("image", "busybox:latest")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter"), h("a", { href: "#/jobs" }, "Clear")));
}

function link(params, change) {
  const next = new URLSearchParams(params);
  for (const [k, v] of Object.entries(change)) if (v === null) next.delete(k); else next.set(k, v);
  return `#/jobs?${next}`;
}
