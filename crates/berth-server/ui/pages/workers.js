// Workers: each one's slots and load, queues, tags, heartbeat, backend and circuit breaker.
import { api } from "../api.js";
import { h, fill, scrollBox, age, labelsText } from "../dom.js";
import { every } from "./live.js";

export async function workersPage(main, { signal }) {
  const body = h("tbody");
  fill(main, h("h1", {}, "Workers"),
    scrollBox("Workers table", h("table", {},
      h("caption", { class: "visually-hidden" }, "Workers"),
      h("thead", {}, h("tr", {}, ["Worker", "State", "Busy / slots", "Queues", "Tags", "Backend", "Circuit", "Heartbeat"].map((c) => h("th", { scope: "col" }, c)))),
      body)));
  await every(3000, signal, async () => {
    const workers = await api("/v1/workers", { signal });
    fill(body, workers.length ? workers.map((w) => h("tr", {},
      h("td", { class: "mono" }, w.id, h("div", { class: "muted" }, `${w.host} · ${w.version}`)),
      h("td", {}, h("span", { class: `status worker-${w.state}` }, w.state)),
      h("td", {}, h("meter", { min: 0, max: Math.max(1, w.slots), value: w.busy, "aria-label": `${w.busy} of ${w.slots} slots busy` }), ` ${w.busy} / ${w.slots}`),
      h("td", {}, w.queues.join(", ")),
      h("td", {}, labelsText(w.tags) || "—"),
      h("td", {}, w.backend),
      h("td", {}, h("span", { class: `status breaker-${w.breaker}` }, w.breaker.replace("_", " "))),
      h("td", {}, age(w.heartbeat_at)))) : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No worker has registered.")));
  });
}
