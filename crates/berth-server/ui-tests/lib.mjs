// Helpers for berth's browser tests: Debian's headless Chromium through playwright-core (which
// downloads no browser), pages at laptop or phone size, axe-core's WCAG 2 A/AA checks,
// screenshots, and authenticated calls to the berth server under test (BERTH_URL, BERTH_TOKEN).
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const require = createRequire(import.meta.url);

export const LAPTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };

// launch(): a headless Chromium. As root in a container it needs --no-sandbox (Chromium will not
// start its sandbox as root); --disable-dev-shm-usage keeps shared memory off /dev/shm, which is
// 64 MB in a default Docker container (Debian's wrapper only adds it when /dev/shm is small, and
// its size check breaks where /dev/shm is mounted twice).
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

// newPage(browser, {phone, dark, csp}): a page in a fresh context, laptop-sized unless phone.
// The page's Content-Security-Policy is bypassed (axe is injected as an inline script) unless
// `csp` is true.
export async function newPage(browser, { phone = false, dark = false, csp = false } = {}) {
  const context = await browser.newContext({
    bypassCSP: !csp,
    viewport: phone ? PHONE : LAPTOP,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
    colorScheme: dark ? "dark" : "light",
  });
  return context.newPage();
}

const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

// axe(page, {exclude}): the page's WCAG 2.0/2.1 A and AA violations (axe-core's own objects),
// leaving out the elements matched by the CSS selectors in exclude.
export async function axe(page, { exclude = [] } = {}) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ content: axeSource });
  }
  return page.evaluate(async (exclude) => {
    const result = await window.axe.run(exclude.length ? { exclude } : document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations"],
    });
    return result.violations;
  }, exclude);
}

// formatViolations(violations): one line per rule and failing element, for assertion messages.
export function formatViolations(violations) {
  return violations
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(" ")} — ${v.help}`))
    .join("\n");
}

// shot(page, name): a full-page PNG in $BERTH_UI_ARTIFACTS (default target/ui-screenshots).
export async function shot(page, name) {
  const dir = process.env.BERTH_UI_ARTIFACTS ?? join(repo, "target", "ui-screenshots");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// env(): the server under test, as scripts/test-ui exports it.
export function env() {
  const url = process.env.BERTH_URL;
  if (!url) throw new Error("BERTH_URL is not set: run these tests with scripts/test-ui");
  return {
    url: url.replace(/\/$/, ""),
    token: process.env.BERTH_TOKEN,
    image: process.env.BERTH_TEST_IMAGE ?? "berth-test/busybox:latest",
  };
}

// api(path, {method, body}): an authenticated request to the server; returns {status, body}
// (body parsed as JSON when the response is JSON, else text).
export async function api(path, { method = "GET", body } = {}) {
  const { url, token } = env();
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = (res.headers.get("content-type") ?? "").includes("json");
  return { status: res.status, body: json && text ? JSON.parse(text) : text };
}
