// The web UI's entry: routes `#/...` to pages, signs in with a token (kept for this tab only),
// and stops a page's live work (polls, streams) when the reader leaves it.
import { api, ApiError, session } from "./api.js";
import { h, fill } from "./dom.js";
import { overviewPage } from "./pages/overview.js";
import { jobsPage } from "./pages/jobs.js";
import { jobPage } from "./pages/job.js";
import { newJobPage } from "./pages/new.js";
import { schedulesPage, schedulePage } from "./pages/schedules.js";
import { workersPage } from "./pages/workers.js";

const routes = [
  [/^\/?$/, overviewPage, "Overview"],
  [/^\/jobs$/, jobsPage, "Jobs"],
  [/^\/jobs\/([0-9a-f]+)$/, jobPage, "Job"],
  [/^\/new$/, newJobPage, "New job"],
  [/^\/schedules$/, schedulesPage, "Schedules"],
  [/^\/schedules\/([^/]+)$/, schedulePage, "Schedule"],
  [/^\/workers$/, workersPage, "Workers"],
];

let current = null; // the AbortController of the page on screen

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query) };
}

async function show() {
  current?.abort();
  const mine = new AbortController();
  current = mine;
  const main = document.getElementById("main");
  const { path, params } = parseHash();
  const ok = path !== "/login" && (await signedIn());
  if (mine.signal.aborted) return;
  if (!ok) return loginPage(main, params.get("next") ?? "/");
  document.getElementById("signout").hidden = !session.token();
  for (const a of document.querySelectorAll("nav a")) {
    const here = a.getAttribute("href") === `#${path}` || (path.startsWith("/jobs/") && a.getAttribute("href") === "#/jobs");
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [pattern, page, title] of routes) {
    const m = path.match(pattern);
    if (!m) continue;
    document.title = `${title} · berth`;
    fill(main);
    try {
      await page(main, { args: m.slice(1), params, signal: mine.signal });
    } catch (e) {
      // A page left while it loaded fails with its aborted requests: the next page is on
      // screen by now, and stays.
      if (!mine.signal.aborted) fill(main, h("h1", {}, title), errorBox(e));
    }
    return;
  }
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "#/" }, "Go to the overview")));
}

let known = null; // whether the server asked for no token (--insecure-no-auth) or ours works

async function signedIn() {
  if (known) return true;
  try {
    await api("/v1/jobs?limit=1");
    known = true;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) throw e;
  }
  return known === true;
}

function loginPage(main, next) {
  document.title = "Sign in · berth";
  document.getElementById("signout").hidden = true;
  const error = h("p", { id: "token-error", class: "field-error", role: "alert" });
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true, "aria-describedby": "token-help token-error" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title", onsubmit: async (ev) => {
    ev.preventDefault();
    session.signIn(input.value.trim());
    known = null;
    try {
      if (await signedIn()) return void (location.hash = `#${next === "/login" ? "/" : next}`);
      error.textContent = "That token was not accepted: it may be mistyped, expired or revoked.";
    } catch (e) {
      error.textContent = e.message;
    }
    session.signOut();
    input.setAttribute("aria-invalid", "true");
    input.focus();
  } },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { id: "token-help", class: "help" }, "From ", h("code", {}, "berth token create"), ". It is kept in this tab only."),
    error,
    h("button", { type: "submit" }, "Sign in"));
  fill(main, form);
  input.focus();
}

export function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : `Something went wrong: ${e.message}`);
}

window.addEventListener("berth:unauthorized", () => {
  known = null;
  session.signOut();
  const { path } = parseHash();
  if (path !== "/login") location.hash = `#/login?next=${encodeURIComponent(path)}`;
});
window.addEventListener("hashchange", show);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", () => {
    session.signOut();
    known = null;
    location.hash = "#/login";
  });
  show();
});
