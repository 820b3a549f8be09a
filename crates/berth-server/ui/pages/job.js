// One job: its status (live), cancel and retry with confirmation, live output, progress
// events as a bar, the result, artifacts to download, attempts with resource use, webhook
// deliveries and the spec.
import { api, download, sse } from "../api.js";
import { h, fill, scrollBox, statusBadge, shortId, time, duration, bytes, labelsText, confirmDialog, announce, FINISHED } from "../dom.js";
import { LogView } from "../logview.js";
import { every } from "./live.js";

export async function jobPage(main, { args: [id], signal }) {
  let job = await api(`/v1/jobs/${id}`, { signal });
  id = job.id;
  const view = {
    status: h("p", { id: "job-status", class: "lead" }),
    actions: h("div", { class: "actions", role: "group", "aria-label": "Job actions" }),
    facts: h("dl", { class: "facts" }),
    progress: h("section", { "aria-labelledby": "progress-title", hidden: true }),
    result: h("section", { "aria-labelledby": "result-title" }),
    artifacts: h("section", { "aria-labelledby": "artifacts-title" }),
    attempts: h("section", { "aria-labelledby": "attempts-title" }),
    deliveries: h("section", { "aria-labelledby": "deliveries-title" }),
  };
  const log = new LogView();
  fill(main,
    h("h1", {}, "Job ", h("span", { class: "mono" }, shortId(id)), job.name && ` · ${job.name}`),
    view.status, view.actions, view.progress,
    h("section", { "aria-labelledby": "output-title" },
      h("h2", { id: "output-title" }, "Output"),
      h("p", { class: "legend" }, h("span", { class: "out-stdout" }, "stdout"), " ", h("span", { class: "out-stderr" }, "stderr"), " ", h("span", { class: "out-berth" }, "berth")),
      log.el),
    view.facts, view.result, view.artifacts, view.attempts, view.deliveries,
    h("details", {}, h("summary", {}, "Spec"), h("pre", { class: "json" }, JSON.stringify(job.spec, null, 2))));

  followLogs(id, log, signal);
  followProgress(id, view.progress, signal);
  let settled = false;
  await every(2000, signal, async () => {
    if (settled) return;
    job = await api(`/v1/jobs/${id}`, { signal });
    renderStatus(view, job, () => api(`/v1/jobs/${id}`).then((j) => ((job = j), (settled = false), renderStatus(view, j))));
    renderFacts(view.facts, job);
    renderAttempts(view.attempts, job);
    await renderOutputs(view, job, signal);
    settled = FINISHED.includes(job.status);
  });
}

async function followLogs(id, log, signal) {
  try {
    for await (const ev of sse(`/v1/jobs/${id}/logs?follow=true`, { signal })) {
      if (ev.event === "log") log.add(ev.data.stream, ev.data.text);
      else if (ev.event === "reconnecting") log.note("… connection lost, resuming");
      else if (ev.event === "end") log.note(`— ended ${ev.data.status}${ev.data.reason ? ` (${ev.data.reason})` : ""}`);
    }
  } catch (e) {
    log.note(`output unavailable: ${e.message}`);
  }
}

async function followProgress(id, section, signal) {
  const bar = h("progress", { id: "progress", max: 100, value: 0 });
  const message = h("p", { class: "muted", "aria-live": "polite" });
  fill(section, h("h2", { id: "progress-title" }, "Progress"), h("label", { for: "progress", class: "visually-hidden" }, "Progress"), bar, message);
  try {
    for await (const ev of sse(`/v1/jobs/${id}/events?follow=true`, { signal })) {
      const data = ev.data?.data ?? {};
      const nested = data.berth && typeof data.berth === "object" ? data.berth : null;
      let percent = ev.event === "progress" ? Number(data.percent) : nested && nested.progress != null ? Number(nested.progress) * 100 : NaN;
      if (!Number.isFinite(percent)) continue;
      percent = Math.max(0, Math.min(100, percent));
      section.hidden = false;
      bar.value = percent;
      bar.textContent = `${Math.round(percent)}%`;
      message.textContent = `${Math.round(percent)}%${data.message ?? nested?.message ? ` · ${data.message ?? nested.message}` : ""}`;
    }
  } catch {
    /* the status line shows what matters; progress is optional */
  }
}

function renderStatus(view, job, refresh) {
  const badge = statusBadge(job);
  badge.id = "status";
  fill(view.status, "Status: ", badge, job.cancel_requested && h("span", { class: "muted" }, " · cancel requested, stopping"));
  const buttons = [];
  if (!FINISHED.includes(job.status)) {
    buttons.push(h("button", { type: "button", class: "danger", disabled: !!job.cancel_requested, onclick: async () => {
      if (!(await confirmDialog(`Cancel job ${shortId(job.id)}?`, "Cancel the job", "Keep it running"))) return;
      await act(`/v1/jobs/${job.id}/cancel`, "Cancel requested", view.status);
      refresh?.();
    } }, "Cancel"));
  } else if (job.status !== "succeeded") {
    buttons.push(h("button", { type: "button", onclick: async () => {
      if (!(await confirmDialog(`Run job ${shortId(job.id)} again?`, "Retry", "Don't"))) return;
      await act(`/v1/jobs/${job.id}/retry`, "Queued again", view.status);
      refresh?.();
    } }, "Retry"));
  }
  fill(view.actions, buttons);
}

async function act(path, done, near) {
  try {
    await api(path, { method: "POST" });
    announce(done);
  } catch (e) {
    near.append(h("span", { class: "error", role: "alert" }, ` ${e.message}`));
  }
}

function renderFacts(dl, job) {
  const rows = [
    ["Image", h("span", { class: "mono" }, job.image)],
    ["Command", h("span", { class: "mono" }, (job.spec.command ?? []).join(" ") || "(the image's)")],
    ["Queue", job.queue], ["Tenant", job.tenant], ["Labels", labelsText(job.labels) || "none"],
    ["Created", time(job.created_at)], ["Started", time(job.started_at)], ["Finished", time(job.finished_at)],
    ["Exit code", job.exit_code ?? ""], ["Attempts", job.attempts],
    job.schedule_id && ["Schedule", h("a", { href: `#/schedules/${job.schedule_id}` }, job.schedule_id.slice(0, 12))],
  ].filter(Boolean);
  fill(dl, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function renderAttempts(section, job) {
  fill(section, h("h2", { id: "attempts-title" }, "Attempts and resources"),
    scrollBox("Attempts", h("table", {},
      h("thead", {}, h("tr", {}, ["#", "Worker", "Started", "Ran", "Ended", "Peak memory", "CPU"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, (job.attempt_list ?? []).map((a) => h("tr", {},
        h("td", {}, a.number), h("td", { class: "mono" }, a.worker ?? ""), h("td", {}, time(a.started_at)),
        h("td", {}, a.started_at ? duration((a.finished_at ?? Date.now()) - a.started_at) : ""),
        h("td", {}, a.reason ? reasonText(a.reason) : ""),
        h("td", {}, bytes(a.peak_memory_bytes)), h("td", {}, a.cpu_seconds == null ? "" : `${a.cpu_seconds.toFixed(2)} s`)))))));
}

function reasonText(r) {
  if (r.kind === "exited") return `exited(${r.code})`;
  const detail = r.signal ?? r.phase ?? r.by ?? r.message;
  return detail == null ? r.kind : `${r.kind}(${detail})`;
}

async function renderOutputs(view, job, signal) {
  const ended = FINISHED.includes(job.status);
  fill(view.result, h("h2", { id: "result-title" }, "Result"),
    job.result != null ? h("pre", { class: "json", id: "result" }, JSON.stringify(job.result, null, 2)) : h("p", { class: "muted" }, ended ? "No result file." : "Not yet."));
  const [artifacts, deliveries] = await Promise.all([
    api(`/v1/jobs/${job.id}/artifacts`, { signal }),
    api(`/v1/jobs/${job.id}/deliveries`, { signal }),
  ]);
  fill(view.artifacts, h("h2", { id: "artifacts-title" }, "Artifacts"),
    artifacts.length ? h("ul", { class: "files" }, artifacts.map((a) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => download(`/v1/jobs/${job.id}/artifacts/${encodeURIComponent(a.name)}`, a.name.split("/").pop()) }, `Download ${a.name}`),
      h("span", { class: "muted" }, ` ${bytes(a.size)} · attempt ${a.attempt}`)))) : h("p", { class: "muted" }, "None."));
  fill(view.deliveries, h("h2", { id: "deliveries-title" }, "Webhook deliveries"),
    deliveries.length ? scrollBox("Webhook deliveries", h("table", {},
      h("thead", {}, h("tr", {}, ["URL", "State", "Tries", "Last answer"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, deliveries.map((d) => h("tr", {},
        h("td", { class: "mono" }, d.url), h("td", {}, d.state), h("td", {}, d.tries),
        h("td", {}, d.last_status ?? d.last_error ?? "")))))) : h("p", { class: "muted" }, "None."));
}
