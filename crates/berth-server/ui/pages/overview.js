// The overview: jobs by status, and a chart of the jobs that finished each minute of the
// last hour (succeeded and failed), refreshed every few seconds.
import { api } from "../api.js";
import { h, fill, STATUSES } from "../dom.js";
import { every } from "./live.js";

const FAILED = ["failed", "timed_out", "lost", "error"];

export async function overviewPage(main, { signal }) {
  const counts = h("ul", { class: "counts", "aria-label": "Jobs by status" });
  const chart = h("figure", { class: "chart" });
  fill(main, h("h1", {}, "Overview"), counts, h("h2", {}, "Finished per minute, last hour"), chart);
  await every(5000, signal, async () => {
    const stats = await api("/v1/stats?minutes=60", { signal });
    fill(counts, STATUSES.map((s) =>
      h("li", { class: `count status-${s}` },
        h("a", { href: `#/jobs?status=${s}` }, h("span", { class: "n" }, String(stats.counts[s] ?? 0)), h("span", {}, s.replace("_", " "))))));
    fill(chart, drawChart(stats.minutes));
  });
}

function drawChart(minutes) {
  const rows = minutes.map((m) => ({
    at: m.at,
    ok: m.counts.succeeded ?? 0,
    bad: FAILED.reduce((n, s) => n + (m.counts[s] ?? 0), 0),
  }));
  const top = Math.max(1, ...rows.map((r) => r.ok + r.bad));
  const [w, height, bar] = [600, 160, 600 / rows.length];
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${height + 20}`);
  svg.setAttribute("role", "img");
  const total = rows.reduce((a, r) => [a[0] + r.ok, a[1] + r.bad], [0, 0]);
  svg.setAttribute("aria-label", `In the last hour ${total[0]} jobs succeeded and ${total[1]} failed; the busiest minute had ${top === 1 && !total[0] && !total[1] ? 0 : top}.`);
  rows.forEach((r, i) => {
    let y = height;
    for (const [n, cls] of [[r.ok, "ok"], [r.bad, "bad"]]) {
      if (!n) continue;
      const bh = (n / top) * (height - 10);
      y -= bh;
      const rect = document.createElementNS(ns, "rect");
      Object.entries({ x: i * bar + 1, y, width: Math.max(1, bar - 2), height: bh, class: cls }).forEach(([k, v]) => rect.setAttribute(k, v));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${new Date(r.at).toLocaleTimeString()}: ${n} ${cls === "ok" ? "succeeded" : "failed"}`;
      rect.append(title);
      svg.append(rect);
    }
  });
  const axis = document.createElementNS(ns, "text");
  axis.setAttribute("x", 0);
  axis.setAttribute("y", height + 16);
  axis.textContent = `max ${top} a minute · ${new Date(rows[0]?.at ?? Date.now()).toLocaleTimeString()} → now`;
  svg.append(axis);
  return [svg, h("figcaption", {}, h("span", { class: "key ok" }, "succeeded"), " ", h("span", { class: "key bad" }, "failed, timed out, lost"))];
}
