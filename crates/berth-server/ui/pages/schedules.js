// Schedules: the list with next fire times and actions, one schedule with its next due times
// and the jobs it made, and a form whose preview shows the next fire times as you type.
import { api, ApiError } from "../api.js";
import { h, fill, scrollBox, statusBadge, shortId, time, age, announce, splitCommand, confirmDialog } from "../dom.js";
import { every } from "./live.js";

export async function schedulesPage(main, { signal }) {
  const body = h("tbody");
  fill(main, h("h1", {}, "Schedules"),
    scrollBox("Schedules table", h("table", {},
      h("caption", { class: "visually-hidden" }, "Schedules"),
      h("thead", {}, h("tr", {}, ["Name", "When", "Time zone", "State", "Next run", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      body)),
    scheduleForm(signal));
  await every(5000, signal, async () => {
    const { schedules } = await api("/v1/schedules", { signal });
    fill(body, schedules.length ? schedules.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/schedules/${s.id}` }, s.name)),
      h("td", {}, h("span", { class: "mono" }, s.cron), h("div", { class: "muted" }, s.describe)),
      h("td", {}, s.timezone),
      h("td", {}, s.state, s.paused?.reason && h("div", { class: "muted" }, s.paused.reason)),
      h("td", {}, s.next_due_local ?? "—"),
      h("td", {}, actions(s, () => location.reload())))) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No schedules yet.")));
  });
}

export async function schedulePage(main, { args: [id], signal }) {
  const head = h("div");
  const next = h("ol", { "aria-label": "Next fire times" });
  const jobs = h("tbody");
  fill(main, head,
    h("h2", {}, "Next runs"), next,
    h("h2", {}, "Jobs it made"),
    scrollBox("Jobs it made", h("table", {}, h("thead", {}, h("tr", {}, ["Job", "Status", "Due", "Created"].map((c) => h("th", { scope: "col" }, c)))), jobs)));
  const refresh = async () => {
    const s = await api(`/v1/schedules/${encodeURIComponent(id)}`, { signal });
    fill(head, h("h1", {}, `Schedule ${s.name}`),
      h("p", { class: "lead" }, h("span", { class: "mono" }, s.cron), ` · ${s.describe} · ${s.timezone} · `, h("strong", {}, s.state)),
      actions(s, refresh),
      h("details", {}, h("summary", {}, "Job spec"), h("pre", { class: "json" }, JSON.stringify(s.spec, null, 2))));
    const due = await api(`/v1/schedules/${s.id}/next?count=5`, { signal });
    fill(next, due.local.map((t) => h("li", {}, t)));
    const page = await api(`/v1/schedules/${s.id}/jobs?limit=20`, { signal });
    fill(jobs, page.jobs.length ? page.jobs.map((j) => h("tr", {},
      h("td", {}, h("a", { href: `#/jobs/${j.id}`, class: "mono" }, shortId(j.id))), h("td", {}, statusBadge(j)),
      h("td", {}, time(j.scheduled_at)), h("td", {}, age(j.created_at)))) : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "None yet.")));
  };
  await every(5000, signal, refresh);
}

function actions(s, refresh) {
  const post = (verb, body) => async () => {
    try {
      const made = await api(`/v1/schedules/${s.id}/${verb}`, { method: "POST", body });
      announce(verb === "trigger" ? `Job ${shortId(made.id)} made` : `Schedule ${verb}d`);
      await refresh();
    } catch (e) {
      announce(e.message);
    }
  };
  const paused = s.state === "paused";
  return h("div", { class: "actions", role: "group", "aria-label": `Actions for ${s.name}` },
    paused ? h("button", { type: "button", onclick: post("resume") }, "Resume") : h("button", { type: "button", onclick: post("pause", {}) }, "Pause"),
    h("button", { type: "button", onclick: post("trigger") }, "Run now"),
    h("button", { type: "button", class: "danger", onclick: async () => {
      if (!(await confirmDialog(`Delete schedule ${s.name}?`, "Delete it"))) return;
      await api(`/v1/schedules/${s.id}`, { method: "DELETE" }).catch((e) => announce(e.message));
      location.hash = "#/schedules";
      await refresh();
    } }, "Delete"));
}

function scheduleForm(signal) {
  const field = (name, label, attrs, help) => h("div", { class: "field" },
    h("label", { for: `s-${name}` }, label),
    h("input", { id: `s-${name}`, name, "aria-describedby": `s-${name}-help s-${name}-error`, ...attrs }),
    h("p", { id: `s-${name}-help`, class: "help" }, help), h("p", { id: `s-${name}-error`, class: "field-error" }));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const preview = h("ol", { id: "preview", "aria-label": "Preview: next fire times", "aria-live": "polite" });
  const previewNote = h("p", { class: "muted", id: "preview-note" });
  const general = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "s-title" },
    h("h2", { id: "s-title" }, "New schedule"),
    field("name", "Name", { required: true, placeholder: "nightly-report" }, "Letters, digits, - and _."),
    field("cron", "Cron", { required: true, placeholder: "0 2 * * *" }, "5 or 6 fields, or @daily, @hourly …"),
    field("timezone", "Time zone", { value: zone }, "An IANA zone, e.g. Europe/Berlin."),
    field("image", "Image", { required: true, placeholder: "busybox:latest" }, "The job each run makes."),
    field("command", "Command", { placeholder: "echo report" }, "Words split like a shell does."),
    h("h3", {}, "Next fire times"), previewNote, preview, general,
    h("button", { type: "submit" }, "Create schedule"));
  let timer = null;
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const cron = form.cron.value.trim();
      if (!cron) return fill(preview), (previewNote.textContent = "Type a cron expression to see when it fires.");
      const q = new URLSearchParams({ cron, timezone: form.timezone.value.trim() || "UTC", count: "5" });
      try {
        const p = await api(`/v1/schedules/preview?${q}`, { signal });
        previewNote.textContent = p.describe;
        fill(preview, p.local.map((t) => h("li", {}, t)));
      } catch (e) {
        fill(preview);
        previewNote.textContent = e.message;
      }
    }, 250);
  };
  form.cron.addEventListener("input", update);
  form.timezone.addEventListener("input", update);
  update();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
    for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
    general.hidden = true;
    const problems = [];
    for (const name of ["name", "cron", "image"]) if (!form[name].value.trim()) problems.push([name, "Required."]);
    let command = [];
    try {
      command = splitCommand(form.command.value);
    } catch (e) {
      problems.push(["command", `The command has ${e.message}.`]);
    }
    if (!problems.length) {
      const body = { name: form.name.value.trim(), cron: form.cron.value.trim(), timezone: form.timezone.value.trim() || "UTC",
        spec: { image: form.image.value.trim(), ...(command.length ? { command } : {}) } };
      try {
        const s = await api("/v1/schedules", { method: "POST", body });
        location.hash = `#/schedules/${s.id}`;
        return;
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        for (const d of e.details.length ? e.details : [{ field: "", message: e.message }]) {
          const head = (d.field ?? "").replace(/^spec\./, "").split(/[.[]/)[0];
          problems.push([["name", "cron", "timezone", "image", "command"].includes(head) ? head : null, d.message]);
        }
      }
    }
    for (const [name, message] of problems) {
      const out = name && form.querySelector(`#s-${name}-error`);
      if (out) {
        out.textContent = message;
        form[name].setAttribute("aria-invalid", "true");
      } else {
        general.hidden = false;
        general.textContent = message;
      }
    }
    form.querySelector("[aria-invalid]")?.focus();
  });
  return form;
}
