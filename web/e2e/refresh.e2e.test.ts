import type { NatsConnection } from "@nats-io/transport-node";
import { decodeJwt } from "jose";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userIdFromSub } from "../../domain/index.ts";
import { mustSend } from "../../test/commandClient.ts";
import { buildWeb, HAS_CHROMIUM, launchBrowser, natsAs, signIn, startApp, type App } from "./harness.ts";

/** Access tokens live 75 s here: the client renews at 15 s, NATS drops the first connection at 75 s. */
const TTL_S = 75;

describe.skipIf(!HAS_CHROMIUM)("the token is renewed before it expires, and no live event is lost", () => {
  let app: App;
  let browser: Browser;

  beforeAll(async () => {
    await buildWeb();
    app = await startApp({ NATTER_DEV_TOKEN_TTL: String(TTL_S) });
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  /** Acts as alice over NATS with a fresh token each time (hers expire too). */
  async function asAlice<T>(f: (nc: NatsConnection, alice: string) => Promise<T>): Promise<T> {
    const { nc, userId: alice } = await natsAs(app, "alice");
    try {
      return await f(nc, alice);
    } finally {
      await nc.close();
    }
  }

  it(`over ${TTL_S + 20} s of posts, bob's client renews its token, reconnects when NATS drops the old one, and shows every post once`, async () => {
    const { page } = await signIn(browser, app, "bob");
    // The page's code runs in the browser: its globals are typed here as far as it uses them.
    type BrowserGlobals = {
      sessionStorage: Record<string, string> & { getItem(k: string): string | null };
      document: { querySelector(s: string): { getAttribute(n: string): string | null } | null };
    };
    const tokenOf = () =>
      page.evaluate(() => {
        const { sessionStorage } = globalThis as unknown as BrowserGlobals;
        return JSON.parse(sessionStorage.getItem(Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user:"))!)!)
          .access_token as string;
      });
    const bob = userIdFromSub(decodeJwt(await tokenOf()).sub!);
    const first = await tokenOf();
    const roomId = await asAlice(
      async (nc, alice) =>
        (await mustSend(nc, alice, "room.create", { name: "long haul", kind: "private", members: [bob] })).result[
          "roomId"
        ] as string,
    );
    await page.locator('[data-testid="room-item"]', { hasText: "long haul" }).first().click();
    await page.locator('[data-testid="room-title"]', { hasText: "long haul" }).waitFor();
    // Record every connection state the header shows.
    await page.evaluate(() => {
      const states: string[] = [];
      (globalThis as unknown as { __states: string[] }).__states = states;
      const el = (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid="connection-state"]')!;
      const { MutationObserver } = globalThis as unknown as {
        MutationObserver: new (f: () => void) => { observe(el: unknown, o: { attributes: boolean }): void };
      };
      new MutationObserver(() => states.push(el.getAttribute("data-state") ?? "")).observe(el, { attributes: true });
    });
    const bodies: string[] = [];
    const started = Date.now();
    for (let i = 0; Date.now() - started < (TTL_S + 20) * 1000; i++) {
      const body = `post ${i} at ${Math.round((Date.now() - started) / 1000)} s`;
      await asAlice((nc, alice) => mustSend(nc, alice, "msg.post", { roomId, body }));
      bodies.push(body);
      await page.waitForTimeout(5000);
    }
    const renewed = await tokenOf();
    expect(renewed).not.toBe(first);
    const states = await page.evaluate(() => (globalThis as unknown as { __states: string[] }).__states);
    // NATS dropped the connection of the expired token, and the client came back with the new one.
    expect(states.some((s) => s !== "online")).toBe(true);
    await page.locator('[data-testid="connection-state"][data-state="online"]').waitFor({ timeout: 30_000 });
    const deadline = Date.now() + 30_000;
    let shown: string[] = [];
    while (Date.now() < deadline) {
      shown = await page.$$eval('[data-testid="room-view"] article.tl-msg .tl-body', (els) =>
        els.map((e) => e.textContent?.trim() ?? ""),
      );
      if (shown.length >= bodies.length) break;
      await page.waitForTimeout(200);
    }
    expect(shown).toEqual(bodies);
  }, 240_000);
});
