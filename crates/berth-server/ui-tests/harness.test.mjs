// The harness itself, on what berth serves today: Swagger UI at /docs/ rendered in headless
// Chromium, checked by axe and screenshotted; the phone and dark-mode page options; the API helper.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { after, before, test } from "node:test";
import { api, axe, env, formatViolations, launch, newPage, shot } from "./lib.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

test("Swagger UI at /docs/ renders, axe runs on it, a screenshot is saved", async (t) => {
  const page = await newPage(browser);
  await page.goto(`${env().url}/docs/`);
  await page.locator(".swagger-ui .opblock").first().waitFor();
  assert.match(await page.locator(".swagger-ui .info .title").innerText(), /berth/i);

  // Swagger UI is third-party: its violations are recorded, not failed on.
  const violations = await axe(page);
  assert.ok(Array.isArray(violations));
  const counts = violations.map((v) => `${v.id} ×${v.nodes.length}`).join(", ");
  t.diagnostic(`axe on Swagger UI: ${violations.length} WCAG A/AA rule(s) fail${counts && `: ${counts}`}`);
  assert.equal(typeof formatViolations(violations), "string");

  const path = await shot(page, "harness-docs");
  assert.ok(statSync(path).size > 0, `${path} is empty`);
  await page.context().close();
});

// A phone page is a real mobile emulation: a page without <meta name="viewport"> (Swagger UI has
// none) is laid out 980 px wide and zoomed out, as on a phone, so only the screen is 390 wide.
test("newPage: phone viewport and dark colour scheme", async () => {
  const page = await newPage(browser, { phone: true, dark: true });
  await page.goto(`${env().url}/docs/`);
  await page.locator(".swagger-ui .opblock").first().waitFor();
  const seen = await page.evaluate(() => ({
    width: screen.width,
    dark: matchMedia("(prefers-color-scheme: dark)").matches,
  }));
  assert.deepEqual(seen, { width: 390, dark: true });
  assert.ok(statSync(await shot(page, "harness-docs-phone")).size > 0);
  await page.context().close();
});

test("api() is authenticated: GET /v1/jobs is 200 with a jobs array", async () => {
  const res = await api("/v1/jobs");
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(Array.isArray(res.body.jobs), JSON.stringify(res.body));
  const anonymous = await fetch(`${env().url}/v1/jobs`);
  assert.equal(anonymous.status, 401, "without the token the same request is refused");
});
