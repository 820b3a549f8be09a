// The web UI in a real browser against a real server on Docker: sign in, submit a job from the
// form and watch its lines arrive, cancel a running job, resume a cut stream without a repeated
// line, 100k lines, schedules with their next runs, field errors, the live jobs table, workers,
// the overview, and axe's WCAG A/AA checks on every page (laptop, phone, dark).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, axe, env, formatViolations, launch, newPage, shot } from "./lib.mjs";

let browser;
const { url, token, image } = env();
const screenshots = [];
let axeChecked = 0;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  console.log(`axe: ${axeChecked} page states checked against WCAG 2.0/2.1 A and AA, 0 violations`);
  console.log(`screenshots: ${screenshots.join(" ")}`);
});

async function signedIn(opts, init) {
  const page = await newPage(browser, opts);
  if (init) await page.addInitScript(init);
  await page.goto(`${url}/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  return page;
}

async function accessible(page, name) {
  const violations = await axe(page);
  assert.deepEqual(violations.map((v) => v.id), [], `${name}:\n${formatViolations(violations)}`);
  axeChecked++;
  screenshots.push(await shot(page, name));
}

async function submit(spec) {
  const { status, body } = await api("/v1/jobs", { method: "POST", body: { image, ...spec } });
  assert.equal(status, 201, JSON.stringify(body));
  return body;
}

async function until(what, check, tries = 600) {
  for (let i = 0; i < tries; i++) {
    const got = await check();
    if (got) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const logText = (page) => page.locator("pre.log").innerText();

test("under its own Content-Security-Policy every page loads with nothing blocked", async () => {
  const page = await newPage(browser, { csp: true });
  const blocked = [];
  // The sign-in probe's 401 is logged by the browser as a failed load: not a CSP matter.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && blocked.push(m.text()));
  page.on("pageerror", (e) => blocked.push(e.message));
  const res = await page.goto(`${url}/`);
  assert.match(res.headers()["content-security-policy"], /default-src 'self'/);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  for (const hash of ["#/", "#/jobs", "#/new", "#/schedules", "#/workers"]) {
    await page.goto(`${url}/${hash}`);
    await page.locator("main h1").first().waitFor();
  }
  assert.deepEqual(blocked, []);
  await page.context().close();
});

test("signing in: a wrong token is refused at its field, the right one opens the overview", async () => {
  const page = await newPage(browser);
  await page.goto(`${url}/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await accessible(page, "login");
  await page.getByLabel("API token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That token was not accepted").waitFor();
  assert.equal(await page.getByLabel("API token").getAttribute("aria-invalid"), "true");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.context().close();
});

test("a job submitted from the form streams its lines live, stdout and stderr apart", async () => {
  const page = await signedIn();
  await page.getByRole("link", { name: "New job" }).click();
  await page.getByLabel("Image").fill(image);
  await page.getByLabel("Command").fill(`sh -c 'for i in 1 2 3 4; do echo line-$i; sleep 1; done; echo oops >&2; echo {\\"berth\\":\\"progress\\",\\"percent\\":100} ; echo {\\"rows\\":4} > $BERTH_OUTPUT_DIR/result.json'`);
  await page.getByLabel("Environment").fill("GREETING=hello");
  await page.getByLabel("Memory limit").fill("64m");
  await page.getByLabel("Timeout").fill("2m");
  await accessible(page, "new-job");
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.getByRole("heading", { name: /^Job / }).waitFor();
  // A line is on screen while the job still runs: live, not after the fact.
  await until("line-1 while running", async () =>
    (await logText(page)).includes("line-1") && (await page.locator("#status").getAttribute("data-status")) === "running");
  await until("the job to succeed", async () => (await page.locator("#status").getAttribute("data-status")) === "succeeded");
  await until("the last lines", async () => (await logText(page)).includes("ended succeeded"));
  const text = await logText(page);
  for (const line of ["line-1", "line-2", "line-3", "line-4"]) assert.equal(text.split(line).length, 2, `${line} once in:\n${text}`);
  assert.equal(await page.locator("pre.log .out-stderr").innerText(), "oops\n");
  await until("the result", async () => (await page.locator("#result").count()) > 0);
  assert.deepEqual(JSON.parse(await page.locator("#result").innerText()), { rows: 4 });
  assert.equal(await page.locator("#progress").getAttribute("value"), "100");
  await accessible(page, "job");
  await page.context().close();
});

test("the keyboard alone signs in, skips to the content and moves between pages", async () => {
  const page = await newPage(browser);
  await page.goto(`${url}/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "token", "the token field has the focus");
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  // From the top of a fresh load (still signed in: the token is in this tab's session).
  await page.reload();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Jobs");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  await page.context().close();
});

test("a job's result and artifacts are shown and download with the token", async () => {
  const script = 'echo \'{"pages": 12}\' > "$BERTH_OUTPUT_DIR/result.json"; mkdir -p "$BERTH_OUTPUT_DIR/out"; printf "quarterly\\n" > "$BERTH_OUTPUT_DIR/out/report.txt"';
  const job = await submit({ command: ["sh", "-c", script] });
  await until("the job to end", async () => (await api(`/v1/jobs/${job.id}`)).body.status === "succeeded");
  const page = await signedIn();
  await page.goto(`${url}/#/jobs/${job.id}`);
  await page.locator("#result").waitFor();
  assert.deepEqual(JSON.parse(await page.locator("#result").innerText()), { pages: 12 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download out/report.txt" }).click()]);
  assert.equal(download.suggestedFilename(), "report.txt");
  const { readFile } = await import("node:fs/promises");
  assert.equal(await readFile(await download.path(), "utf8"), "quarterly\n");
  await page.context().close();
});

test("a running job is cancelled from its page after a confirmation", async () => {
  const job = await submit({ command: ["sleep", "300"], labels: { ui: "cancel" } });
  const page = await signedIn();
  await page.goto(`${url}/#/jobs/${job.id}`);
  await until("running", async () => (await page.locator("#status").getAttribute("data-status")) === "running");
  await page.getByRole("button", { name: "Cancel" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await accessible(page, "cancel-dialog");
  await dialog.getByRole("button", { name: "Cancel the job" }).click();
  await until("cancelled", async () => (await page.locator("#status").getAttribute("data-status")) === "cancelled");
  assert.equal((await api(`/v1/jobs/${job.id}`)).body.status, "cancelled");
  await page.getByRole("button", { name: "Retry" }).waitFor();
  await page.context().close();
});

test("a stream cut every 3 pieces resumes without losing or repeating a line", async () => {
  // 2,000 lines in about 20 stored pieces (a pause every 100 lines).
  const job = await submit({ command: ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo n$i; [ $((i % 100)) = 0 ] && sleep 0.1; done; true"] });
  await until("the job to end", async () => (await api(`/v1/jobs/${job.id}`)).body.status === "succeeded");
  // Each log stream is cut (the body ends early) after 3 log events, as a flaky proxy would.
  const page = await signedIn({}, () => {
    const real = window.fetch;
    window.__cuts = 0;
    window.fetch = async (input, init) => {
      const res = await real(input, init);
      if (!String(input).includes("/logs?follow=true")) return res;
      const reader = res.body.getReader();
      let events = 0;
      const cut = new ReadableStream({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          const text = new TextDecoder().decode(value);
          const blocks = text.split("\n\n");
          for (let i = 0; i < blocks.length - 1; i++) {
            controller.enqueue(new TextEncoder().encode(`${blocks[i]}\n\n`));
            if (blocks[i].includes("event: log") && ++events >= 3) {
              window.__cuts++;
              reader.cancel();
              return controller.close();
            }
          }
          if (blocks.at(-1)) controller.enqueue(new TextEncoder().encode(blocks.at(-1)));
        },
      });
      return new Response(cut, { status: res.status, headers: res.headers });
    };
  });
  await page.goto(`${url}/#/jobs/${job.id}`);
  await until("the end of the stream", async () => (await logText(page)).includes("ended succeeded"));
  const lines = (await page.locator("pre.log .out-stdout").allInnerTexts()).join("").split("\n").filter(Boolean);
  assert.equal(lines.length, 2000);
  assert.deepEqual(lines, Array.from({ length: 2000 }, (_, i) => `n${i + 1}`));
  assert.ok((await page.evaluate(() => window.__cuts)) >= 2, "the stream was cut and resumed");
  await page.context().close();
});

test("100,000 lines reach the page whole and the tab stays responsive", async () => {
  const job = await submit({ command: ["seq", "1", "100000"] });
  await until("the job to end", async () => (await api(`/v1/jobs/${job.id}`)).body.status === "succeeded");
  // The longest main-thread task while they arrive, reported (not asserted: no timings in tests).
  const page = await signedIn({}, () => {
    window.__longest = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(`${url}/#/jobs/${job.id}`);
  // The end note is read alone: innerText of the whole log would lay out 100k lines per poll.
  const ended = async () => ((await page.locator("pre.log .out-berth").last().textContent({ timeout: 100 }).catch(() => "")) ?? "").includes("ended succeeded");
  await until("the end of the stream", ended, 1200);
  const count = await page.evaluate(() =>
    [...document.querySelectorAll("pre.log .out-stdout")].reduce((n, el) => n + (el.textContent.match(/\n/g) ?? []).length, 0));
  assert.equal(count, 100000);
  console.log(`100k lines: the longest main-thread task was ${Math.round(await page.evaluate(() => window.__longest))} ms`);
  // Scrolled to the end while following; the reader scrolling up stops the follow.
  const atBottom = await page.evaluate(() => { const p = document.querySelector("pre.log"); return p.scrollTop + p.clientHeight >= p.scrollHeight - 8; });
  assert.ok(atBottom, "follows the end");
  await page.locator("pre.log").evaluate((p) => { p.scrollTop = 0; p.dispatchEvent(new Event("scroll")); });
  await page.getByRole("button", { name: "Follow the end ↓" }).waitFor();
  // Still answers input: a click navigates away at once.
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  await page.context().close();
});

test("bad fields are shown next to their fields, from the form's checks and from the server", async () => {
  const page = await signedIn();
  await page.goto(`${url}/#/new`);
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.locator("#job-image-error").getByText("Enter an image").waitFor();
  assert.equal(await page.getByLabel("Image").getAttribute("aria-invalid"), "true");
  await page.getByLabel("Image").fill(image);
  await page.getByLabel("Memory limit").fill("lots");
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.locator("#job-memory-error").getByText("Use a size").waitFor();
  // Passes the form's checks; the server refuses it and names the field.
  await page.getByLabel("Memory limit").fill("");
  await page.getByLabel("Image").fill("Not/A/Valid:Ref:x");
  await page.getByRole("button", { name: "Submit job" }).click();
  await until("the server's error at the image", async () => (await page.locator("#job-image-error").innerText()).length > 0);
  assert.equal(await page.getByLabel("Image").getAttribute("aria-invalid"), "true");
  assert.match(page.url(), /#\/new$/, "nothing was submitted");
  await accessible(page, "new-job-errors");
  await page.context().close();
});

test("a schedule's form previews its next runs; its page lists them and the jobs it made", async () => {
  const page = await signedIn();
  await page.getByRole("link", { name: "Schedules" }).click();
  await page.getByLabel("Name").fill("ui-nightly");
  await page.getByLabel("Cron").fill("not cron");
  await until("the preview's complaint", async () => (await page.locator("#preview-note").innerText()).length > 0);
  assert.equal(await page.locator("#preview li").count(), 0);
  await page.getByLabel("Cron").fill("30 2 * * *");
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await until("five previewed runs", async () => (await page.locator("#preview li").count()) === 5);
  assert.match(await page.locator("#preview li").first().innerText(), /02:30:00/);
  await page.getByLabel("Image").fill(image);
  await page.getByLabel("Command").fill("echo report");
  await accessible(page, "schedules");
  await page.getByRole("button", { name: "Create schedule" }).click();
  await page.getByRole("heading", { name: "Schedule ui-nightly" }).waitFor();
  const next = page.getByRole("list", { name: "Next fire times" });
  await until("the next runs", async () => (await next.locator("li").count()) === 5);
  await page.getByRole("button", { name: "Run now" }).click();
  await until("the job it made", async () => (await page.locator("table a.mono").count()) === 1);
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await accessible(page, "schedule");
  const id = page.url().split("/").pop();
  const made = (await api(`/v1/schedules/${id}/jobs`)).body.jobs[0];
  await until("its job to end", async () => (await api(`/v1/jobs/${made.id}`)).body.finished_at);
  assert.equal((await api(`/v1/schedules/${id}`, { method: "DELETE" })).status, 204);
  await page.context().close();
});

test("the jobs table updates without a reload and filters by status, label and id prefix", async () => {
  const page = await signedIn();
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  const job = await submit({ command: ["true"], labels: { ui: "table" } });
  await page.getByRole("link", { name: job.id.slice(0, 12) }).waitFor();
  await page.getByLabel("Label").fill("ui=table");
  await page.getByRole("button", { name: "Filter" }).click();
  await until("only the labelled job", async () => (await page.locator("tbody tr").count()) === 1);
  await page.goto(`${url}/#/jobs?q=${job.id.slice(0, 8)}`);
  await until("the prefix's job", async () => (await page.locator("tbody tr a").allInnerTexts()).join() === job.id.slice(0, 12));
  await until("the job to end", async () => (await api(`/v1/jobs/${job.id}`)).body.status === "succeeded");
  await page.goto(`${url}/#/jobs?status=succeeded`);
  await until("succeeded rows only", async () => {
    const statuses = await page.locator("tbody [data-status]").evaluateAll((els) => els.map((e) => e.dataset.status));
    return statuses.length > 0 && statuses.every((s) => s === "succeeded");
  });
  await accessible(page, "jobs");
  await page.context().close();
});

test("workers and the overview show the server's slots and the jobs that ran", async () => {
  const page = await signedIn();
  const counts = page.getByRole("list", { name: "Jobs by status" });
  await until("a succeeded count", async () => Number((await counts.locator(".status-succeeded .n").innerText()) || 0) > 0);
  await page.getByRole("img").first().waitFor();
  assert.match(await page.getByRole("img").first().getAttribute("aria-label"), /jobs succeeded/);
  await accessible(page, "overview");
  await page.getByRole("link", { name: "Workers" }).click();
  await page.getByRole("cell", { name: /server/ }).first().waitFor();
  await accessible(page, "workers");
  await page.context().close();
});

test("on a phone in dark mode every page keeps its contrast and fits the screen", async () => {
  const job = await submit({ command: ["sh", "-c", "echo a fairly long line of output that has to wrap on a narrow phone screen; echo oops >&2; exit 3"], labels: { ui: "phone" } });
  await until("the job to end", async () => (await api(`/v1/jobs/${job.id}`)).body.finished_at);
  const page = await signedIn({ phone: true, dark: true });
  for (const [hash, name] of [["#/", "overview"], ["#/jobs", "jobs"], [`#/jobs/${job.id}`, "job"], ["#/new", "new-job"], ["#/schedules", "schedules"]]) {
    await page.goto(`${url}/${hash}`);
    await page.locator("main h1").first().waitFor();
    await page.waitForTimeout(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(wide <= 1, `${name} scrolls sideways by ${wide}px on a phone`);
    await accessible(page, `phone-dark-${name}`);
  }
  await page.context().close();
});
