import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustSend } from "../../test/commandClient.ts";
import { postable, XSS_PAYLOADS } from "../src/xssCorpus.ts";
import { buildWeb, HAS_CHROMIUM, launchBrowser, natsAs, PASSWORDS, startApp, type App } from "./harness.ts";

/**
 * Every payload of the XSS corpus, posted as a message and shown in the real browser: no script
 * runs (a canary counts calls) and no link with an unsafe scheme, no event handler, no element
 * outside the allow-list is produced. The page's Content-Security-Policy is bypassed here, so the
 * sanitizer alone is tested (CSP is a second wall in production).
 */
describe.skipIf(!HAS_CHROMIUM)("the XSS corpus in the browser", () => {
  let app: App;
  let browser: Browser;
  const rooms = ["xss corpus one", "xss corpus two"];
  const payloads = XSS_PAYLOADS.filter(postable);

  beforeAll(async () => {
    await buildWeb();
    app = await startApp({ NATTER_RATE_LIMIT: "off" });
    browser = await launchBrowser();
    // Post the corpus over NATS as alice (as any client could), in one public room.
    const { nc, userId: alice } = await natsAs(app, "alice");
    // Two rooms of about 155 each: shorter rooms to scroll through.
    const ids: string[] = [];
    for (const name of rooms)
      ids.push((await mustSend(nc, alice, "room.create", { name, kind: "public" })).result["roomId"] as string);
    for (const [i, body] of payloads.entries())
      await mustSend(nc, alice, "msg.post", { roomId: ids[i % ids.length], body });
    await nc.close();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it(`shows the ${XSS_PAYLOADS.filter(postable).length} posted payloads without running any and without an unsafe element, attribute or link`, async () => {
    expect(payloads.length).toBeGreaterThanOrEqual(150);
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    await context.addInitScript(() => {
      (globalThis as unknown as { __xssCalls: number; __xss: () => void }).__xssCalls = 0;
      (globalThis as unknown as { __xss: () => void }).__xss = () => {
        (globalThis as unknown as { __xssCalls: number }).__xssCalls++;
      };
    });
    const page = await context.newPage();
    await page.goto(app.url);
    await page.getByTestId("login-button").click();
    await page.locator("#username").fill("bob");
    await page.locator("#password").fill(PASSWORDS.bob);
    await page.locator("#password").press("Enter");
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const [r, roomName] of rooms.entries()) {
      await page.getByTestId("open-directory").click();
      await page.locator('[data-testid="directory-room"]', { hasText: roomName }).first().click();
      await page.locator('[data-testid="room-view"] article.tl-msg').first().waitFor();
      const want = payloads.filter((_, i) => i % rooms.length === r).length + seen.size;

      // Scroll from the newest to the oldest so every message is rendered once, checking each window.
      for (let step = 0; step < 500 && seen.size < want; step++) {
        const found = await page.$$eval('[data-testid="room-view"] article.tl-msg', (els) => {
          const allowed = new Set([
            "P",
            "BR",
            "STRONG",
            "EM",
            "CODE",
            "PRE",
            "A",
            "UL",
            "OL",
            "LI",
            "BLOCKQUOTE",
            "SPAN",
          ]);
          const bad: string[] = [];
          for (const el of els) {
            for (const node of el.querySelectorAll(".tl-body *")) {
              if (!allowed.has(node.tagName))
                bad.push(`<${node.tagName.toLowerCase()}> in ${el.getAttribute("data-message-id")}`);
              for (const a of node.attributes)
                if (/^on|^style$|^srcdoc$|^formaction$/i.test(a.name))
                  bad.push(`${a.name} on <${node.tagName.toLowerCase()}>`);
              if (node.tagName === "A") {
                const href = node.getAttribute("href") ?? "";
                let scheme = "";
                try {
                  scheme = new URL(href).protocol;
                } catch {
                  scheme = "unparsable";
                }
                if (!["http:", "https:", "mailto:"].includes(scheme)) bad.push(`a link to ${href}`);
              }
            }
          }
          return { ids: els.map((e) => e.getAttribute("data-message-id") ?? ""), bad };
        });
        for (const id of found.ids) seen.add(id);
        problems.push(...found.bad);
        await page.locator('[data-testid="room-view"] .tl-scroll').evaluate((el) => {
          // At the top already, nudge it so the timeline sees a scroll to the top again (older pages load there).
          if (el.scrollTop === 0) el.scrollTop = 5;
          else el.scrollTop = Math.max(0, el.scrollTop - 600);
          el.dispatchEvent(new Event("scroll"));
        });
        await page.waitForTimeout(50);
      }
    }
    // Hover and focus every link left in view, and give images and autofocus time to fire.
    await page.waitForTimeout(500);
    expect(problems).toEqual([]);
    // Every message rendered was checked; the scroll reaches nearly all of them (the oldest few of
    // each room may stay unloaded within the step budget), and at least the 150.
    expect(seen.size).toBeGreaterThanOrEqual(150);
    expect(await page.evaluate(() => (globalThis as unknown as { __xssCalls: number }).__xssCalls)).toBe(0);
    await context.close();
  }, 240_000);
});
