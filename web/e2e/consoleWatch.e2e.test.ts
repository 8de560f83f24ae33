import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { build, type Rolldown } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../test/childProcess.ts";
import { contentSecurityPolicy } from "../../app/webServer.ts";
import { checkConsoles, takeConsoleProblems } from "./consoleWatch.ts";
import { HAS_CHROMIUM, launchBrowser } from "./harness.ts";

/** A made-up origin served by the test itself, under the policy natter's web server sends. */
const ORIGIN = "http://natter.test";
const CSP = contentSecurityPolicy({
  issuer: `${ORIGIN}/realms/natter`,
  clientId: "natter-web",
  natsWsUrl: "ws://natter.test:9222",
  maxBody: 8000,
  presenceHeartbeatMs: 10_000,
});

/** web/src/markdown.ts bundled for the browser as a script that sets `natterMarkdown`. */
async function markdownBundle(): Promise<string> {
  const out = await build({
    configFile: false,
    root: join(ROOT, "web"),
    logLevel: "warn",
    build: {
      write: false,
      minify: false,
      lib: { entry: join(ROOT, "web", "src", "markdown.ts"), formats: ["iife"], name: "natterMarkdown" },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as Rolldown.RolldownOutput[];
  const chunk = outputs.flatMap((o) => o.output).find((o) => o.type === "chunk");
  if (chunk?.type !== "chunk") throw new Error("vite built no script from web/src/markdown.ts");
  return chunk.code;
}

describe.skipIf(!HAS_CHROMIUM)("the browser tests' console check", () => {
  let browser: Browser;
  let page: Page;
  /** The files of ORIGIN, by path. */
  const files = new Map<string, { type: string; body: string }>();

  beforeAll(async () => {
    files.set("/markdown.js", { type: "text/javascript", body: await markdownBundle() });
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    await page.route(`${ORIGIN}/**`, (route) => {
      const file = files.get(new URL(route.request().url()).pathname);
      if (file === undefined) return route.fulfill({ status: 404, body: "" });
      const headers: Record<string, string> = { "content-type": file.type };
      if (file.type.startsWith("text/html")) headers["content-security-policy"] = CSP;
      return route.fulfill({ status: 200, headers, body: file.body });
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it("fails a test whose page breaks natter's CSP, logs an error or throws", async () => {
    files.set("/bad.html", {
      type: "text/html; charset=utf-8",
      body: '<!doctype html><title>bad</title><button onclick="void 0">inline handler</button><script src="/bad.js"></script>',
    });
    files.set("/bad.js", {
      type: "text/javascript",
      body: 'console.error("a deliberate console error"); setTimeout(() => { throw new Error("a deliberate uncaught error"); });',
    });
    await page.goto(`${ORIGIN}/bad.html`);
    // The uncaught error comes from a timer: wait for it rather than for a time.
    const found: string[] = [];
    await expect
      .poll(async () => {
        found.push(...(await takeConsoleProblems()));
        return found.some((p) => p.includes("a deliberate uncaught error"));
      })
      .toBe(true);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^http:\/\/natter\.test\/bad\.html: CSP violation \(enforce\) of script-src-attr: inline/,
        ),
        expect.stringMatching(/console error: Executing inline event handler violates/),
        expect.stringContaining("console error: a deliberate console error (at http://natter.test/bad.js"),
      ]),
    );

    // And the check each test ends with fails on it (a page without the timer: nothing is left
    // to arrive after the check).
    files.set("/handler.html", {
      type: "text/html; charset=utf-8",
      body: '<!doctype html><title>handler</title><img src="data:," onerror="void 0">',
    });
    await page.goto(`${ORIGIN}/handler.html`);
    await expect(checkConsoles()).rejects.toThrow(
      /the browser's console is not clean[\s\S]*CSP violation \(enforce\) of script-src-attr/,
    );
  });

  it("passes a page whose console stays clean: the message sanitizer's self-test under natter's CSP", async () => {
    files.set("/markdown.html", {
      type: "text/html; charset=utf-8",
      body: '<!doctype html><title>markdown</title><script src="/markdown.js"></script>',
    });
    await page.goto(`${ORIGIN}/markdown.html`);
    type Markdown = {
      sanitizerActive(): boolean;
      renderMarkdown(body: string, options: { isMention(name: string): boolean }): string;
    };
    const result = await page.evaluate(() => {
      const md = (globalThis as unknown as { natterMarkdown: Markdown }).natterMarkdown;
      return {
        active: md.sanitizerActive(),
        html: md.renderMarkdown("**hi** @bob <img src=x onerror=1>", { isMention: (n) => n === "bob" }),
      };
    });
    // The second wall is in use in a real browser (happy-dom, where the unit tests run, turns it down).
    expect(result.active).toBe(true);
    expect(result.html).toBe(
      '<p><strong>hi</strong> <span class="mention">@bob</span> &lt;img src=x onerror=1&gt;</p>\n',
    );
    await checkConsoles();
  });
});
