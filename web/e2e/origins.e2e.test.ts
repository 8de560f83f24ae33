import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb, HAS_CHROMIUM, launchBrowser, signIn, startApp, type App } from "./harness.ts";
import { takeConsoleProblems } from "./consoleWatch.ts";

describe.skipIf(!HAS_CHROMIUM)("natter signs in alike at every address it is served on", () => {
  let app: App;
  let browser: Browser;

  beforeAll(async () => {
    await buildWeb();
    app = await startApp();
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it.each(["127.0.0.1", "localhost", "[::1]"] as const)(
    "bob signs in at http://%s:<port>/ and is online over the NATS WebSocket",
    async (host) => {
      const { context, page } = await signIn(browser, app, "bob", { origin: app.at(host) });
      try {
        expect(new URL(page.url()).origin).toBe(app.at(host));
        await page.getByTestId("user-menu-button").waitFor();
      } finally {
        await context.close();
      }
    },
  );

  it("refuses a redirect to an origin natter does not serve, and does not go there", async () => {
    const context = await browser.newContext();
    const page: Page = await context.newPage();
    try {
      const port = Number(new URL(app.url).port);
      // Another host, another port on loopback, a host that only starts like a served one.
      for (const redirect of [
        "http://evil.example/callback",
        `http://127.0.0.1:${port + 1}/callback`,
        `http://127.0.0.1.evil.example:${port}/callback`,
      ]) {
        const auth = new URL(`${app.url}/realms/natter/protocol/openid-connect/auth`);
        for (const [k, v] of Object.entries({
          client_id: "natter-web",
          response_type: "code",
          scope: "openid profile",
          redirect_uri: redirect,
          state: "s",
          code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
          code_challenge_method: "S256",
        })) {
          auth.searchParams.set(k, v);
        }
        const res = await page.goto(auth.href);
        expect(res?.status(), redirect).toBe(400);
        expect(new URL(page.url()).origin).toBe(app.url);
        await expect(page.locator("body").textContent()).resolves.toContain("invalid_redirect_uri");
      }
      // The refusals are 400 pages, and Chromium logs each such load as a console error: those,
      // and nothing else, are what this test expects on its console.
      const problems = await takeConsoleProblems();
      expect(problems).toHaveLength(3);
      for (const p of problems)
        expect(p).toMatch(
          /\/realms\/natter\/protocol\/openid-connect\/auth\?.*console error: Failed to load resource: the server responded with a status of 400/,
        );
    } finally {
      await context.close();
    }
  });
});
