import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../test/childProcess.ts";
import { buildWeb, HAS_CHROMIUM, launchBrowser, networkSwitch, signIn, startApp, type App } from "./harness.ts";

/** Where the run puts its screenshots (the README links them). */
const SHOTS = join(ROOT, "docs", "screenshots");

/** What a user's timeline shows of each message, as read from the page. */
type Shown = { id: string; body: string; deleted: boolean; edited: boolean; reactions: string[]; replies: string };

async function shown(page: Page, scope = '[data-testid="room-view"] .timeline'): Promise<Shown[]> {
  return page.$$eval(`${scope} article.tl-msg`, (els) =>
    els.map((el) => ({
      id: el.getAttribute("data-message-id") ?? "",
      body: el.querySelector(".tl-body")?.textContent?.trim() ?? "",
      deleted: el.classList.contains("tl-deleted"),
      edited: el.querySelector(".tl-edited") !== null,
      reactions: [...el.querySelectorAll(".tl-reaction")].map((r) => r.textContent?.replace(/\s+/g, "") ?? ""),
      replies: el.querySelector(".tl-replies")?.textContent?.trim() ?? "",
    })),
  );
}

/** Waits until `page`'s timeline satisfies `ok`, showing what it had when it gives up. */
async function until(
  page: Page,
  what: string,
  ok: (messages: Shown[]) => boolean,
  timeoutMs = 15_000,
): Promise<Shown[]> {
  const deadline = Date.now() + timeoutMs;
  let last: Shown[] = [];
  while (Date.now() < deadline) {
    last = await shown(page);
    if (ok(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not seen within ${timeoutMs} ms; the timeline shows ${JSON.stringify(last)}`);
}

/** Opens the sidebar where it is a drawer (phone widths). */
async function sidebar(page: Page): Promise<void> {
  const shown = await page
    .locator('#sidebar [data-testid="open-directory"]')
    .waitFor({ state: "visible", timeout: 3000 })
    .then(
      () => true,
      () => false,
    );
  if (!shown) await page.getByTestId("drawer-toggle").click();
}

async function openRoom(page: Page, name: string): Promise<void> {
  await sidebar(page);
  await page.locator('[data-testid="room-item"]', { hasText: name }).first().click();
  await page.locator('[data-testid="room-title"]', { hasText: name }).waitFor();
}

async function send(page: Page, text: string, input = '[data-testid="composer-input"]'): Promise<void> {
  await page.locator(input).fill(text);
  await page.locator(input).press("Enter");
}

/** Hovers a message and presses one of its actions. */
async function act(page: Page, body: string, action: string): Promise<void> {
  const msg = page.locator('[data-testid="room-view"] article.tl-msg', { hasText: body }).first();
  await msg.hover();
  await msg.getByRole("button", { name: action }).click();
}

describe.skipIf(!HAS_CHROMIUM)("two people chat in the browser, live", () => {
  let app: App;
  let browser: Browser;
  let alice: Page;
  let bob: Page;

  beforeAll(async () => {
    await buildWeb();
    app = await startApp();
    browser = await launchBrowser();
    alice = (await signIn(browser, app, "alice")).page;
    bob = (await signIn(browser, app, "bob")).page;
    await mkdir(SHOTS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("alice creates a public room, bob finds it in the directory and joins", async () => {
    await alice.getByTestId("create-room").click();
    await alice.getByTestId("room-name-input").fill("lobby");
    await alice.getByTestId("room-kind-public").check();
    await alice.getByTestId("create-room-submit").click();
    await alice.locator('[data-testid="room-title"]', { hasText: "lobby" }).waitFor();
    await send(alice, "welcome to the lobby");
    await bob.getByTestId("open-directory").click();
    await bob.locator('[data-testid="directory-room"]', { hasText: "lobby" }).first().click();
    await bob.getByTestId("join-room").first().click();
    await until(bob, "the lobby's first message", (ms) => ms.some((m) => m.body === "welcome to the lobby"));
  });

  it("alice creates a private room and invites bob; they chat, thread, react, edit and delete, each seeing the other live", async () => {
    await alice.getByTestId("create-room").click();
    await alice.getByTestId("room-name-input").fill("secret plans");
    await alice.getByTestId("room-kind-private").check();
    await alice.getByTestId("create-room-submit").click();
    await alice.locator('[data-testid="room-title"]', { hasText: "secret plans" }).waitFor();
    await alice.getByTestId("room-settings-button").click();
    await alice.locator('[data-testid="invite-picker"] [data-testid="user-search-input"]').fill("bob");
    await alice.getByRole("button", { name: "Invite bob" }).click();
    await alice.getByTestId("dialog-close").click();
    await bob
      .locator('[data-testid="invitation"]', { hasText: "secret plans" })
      .getByTestId("accept-invitation")
      .click();
    await bob.locator('[data-testid="room-title"]', { hasText: "secret plans" }).waitFor();
    await openRoom(alice, "secret plans");
    // The composer is named for the room as a screen reader says it: no lock glyph read aloud.
    expect(await alice.getByTestId("composer-input").getAttribute("aria-label")).toBe("Message secret plans");

    await send(alice, "the plan is **bold**");
    await until(bob, "alice's message", (ms) => ms.some((m) => m.body === "the plan is bold"));
    await send(bob, "sounds good");
    await until(alice, "bob's answer", (ms) => ms.some((m) => m.body === "sounds good"));

    // A thread reply from bob shows as a reply count at alice's.
    await act(bob, "the plan is bold", "Reply in thread");
    await bob.getByTestId("thread-panel").waitFor();
    await send(bob, "in the thread", '[data-testid="thread-composer-input"]');
    await until(alice, "the reply count", (ms) =>
      ms.some((m) => m.body === "the plan is bold" && /1 repl/.test(m.replies)),
    );

    // bob reacts; alice sees it.
    await act(bob, "the plan is bold", "Add reaction");
    await bob.getByRole("button", { name: "React with 👍" }).click();
    await until(alice, "bob's reaction", (ms) =>
      ms.some((m) => m.body === "the plan is bold" && m.reactions.includes("👍1")),
    );

    // alice edits her message, then deletes bob's? No: she deletes her own second one.
    await act(alice, "the plan is bold", "Edit message");
    await alice.getByTestId("composer-input").fill("the plan is *changed*");
    await alice.getByTestId("composer-input").press("Enter");
    await until(bob, "the edit", (ms) => ms.some((m) => m.body === "the plan is changed" && m.edited));
    await send(alice, "to be deleted");
    await until(bob, "the doomed message", (ms) => ms.some((m) => m.body === "to be deleted"));
    await act(alice, "to be deleted", "Delete message");
    await alice.getByTestId("confirm-delete").click();
    await until(bob, "the deletion", (ms) => ms.some((m) => m.deleted) && !ms.some((m) => m.body === "to be deleted"));
  });

  it("presence is seen by the other", async () => {
    // bob's presence dot at alice's, in the member list of the room and the DM list.
    await alice.locator('[data-testid="presence-dot"][data-status="online"]').first().waitFor({ timeout: 15_000 });
  });

  it("a DM between alice and bob, and typing seen by the other", async () => {
    await alice.getByTestId("start-dm").click();
    await alice.locator('[data-testid="dm-user-picker"] [data-testid="user-search-input"]').fill("bob");
    await alice.getByRole("button", { name: "Message bob" }).click();
    await alice.locator('[data-testid="room-title"]', { hasText: "bob" }).waitFor();
    await alice.getByTestId("composer-input").waitFor();
    await send(alice, "psst, bob");
    await until(alice, "alice's DM", (ms) => ms.some((m) => m.body === "psst, bob"));
    await bob.locator('[data-testid="room-item"]', { hasText: "alice" }).first().click();
    await until(bob, "the DM", (ms) => ms.some((m) => m.body === "psst, bob"));
    // Typing, as people type: keystrokes over a few seconds (the client says so at most every 2 s,
    // bob's shows it for 4 s after each), going on while bob has not seen it yet: a busy machine
    // may be slow to relay the first.
    const indicator = bob.locator('[data-testid="typing-indicator"]', { hasText: /alice is typing/i });
    const input = alice.getByTestId("composer-input");
    for (let words = 0; words < 12 && !(await indicator.isVisible()); words++)
      await input.pressSequentially("typing ", { delay: 120 });
    await indicator.waitFor({ timeout: 5_000 });
    await input.fill("");
  });

  it("charlie sees no private room and cannot post in a public room he can read", async () => {
    const charlie = (await signIn(browser, app, "charlie")).page;
    await charlie.getByTestId("open-directory").click();
    await charlie.locator('[data-testid="directory-room"]', { hasText: "lobby" }).first().waitFor();
    expect(await charlie.locator('[data-testid="directory-room"]', { hasText: "secret plans" }).count()).toBe(0);
    expect(await charlie.locator('[data-testid="room-item"]', { hasText: "secret plans" }).count()).toBe(0);
    await charlie.locator('[data-testid="directory-room"]', { hasText: "lobby" }).first().click();
    await until(charlie, "the lobby", (ms) => ms.some((m) => m.body === "welcome to the lobby"));
    await charlie.getByTestId("composer-blocked").waitFor();
    expect(await charlie.getByTestId("composer-input").count()).toBe(0);
    await charlie.context().close();
  });

  it("bob's network is cut while alice posts, edits and deletes; back online his timeline equals a fresh load", async () => {
    let net!: Awaited<ReturnType<typeof networkSwitch>>;
    const { page: bobNet, context } = await signIn(browser, app, "bob", {
      prepare: async (c) => void (net = await networkSwitch(c)),
    });
    await openRoom(bobNet, "secret plans");
    await openRoom(alice, "secret plans");
    await until(bobNet, "the room", (ms) => ms.some((m) => m.body === "sounds good"));
    await bobNet.locator('[data-testid="connection-state"][data-state="online"]').waitFor();
    await net.cut(bobNet);
    await bobNet.locator('[data-testid="connection-state"]:not([data-state="online"])').waitFor({ timeout: 15_000 });
    await send(alice, "while bob is away");
    await send(alice, "another while away");
    await until(alice, "alice's own posts", (ms) => ms.some((m) => m.body === "another while away"));
    await act(alice, "while bob is away", "Edit message");
    await alice.getByTestId("composer-input").fill("edited while bob is away");
    await alice.getByTestId("composer-input").press("Enter");
    await act(alice, "another while away", "Delete message");
    await alice.getByTestId("confirm-delete").click();
    await act(alice, "sounds good", "Add reaction");
    await alice.getByRole("button", { name: "React with 🎉" }).click();
    await until(
      alice,
      "alice's changes",
      (ms) => ms.some((m) => m.body === "edited while bob is away") && ms.some((m) => m.reactions.includes("🎉1")),
    );
    // Cut off, bob saw none of it.
    expect((await shown(bobNet)).some((m) => m.body.includes("while bob is away"))).toBe(false);
    await net.restore(bobNet);
    await bobNet.locator('[data-testid="connection-state"][data-state="online"]').waitFor({ timeout: 60_000 });
    const caughtUp = await until(
      bobNet,
      "bob catching up",
      (ms) =>
        ms.some((m) => m.body === "edited while bob is away" && m.edited) &&
        ms.some((m) => m.reactions.includes("🎉1")),
      30_000,
    );
    // A fresh load of the same tab (its session survives a reload): the same timeline.
    await bobNet.reload();
    await bobNet.locator('[data-testid="connection-state"][data-state="online"]').waitFor({ timeout: 30_000 });
    await openRoom(bobNet, "secret plans");
    const reloaded = await until(
      bobNet,
      "a fresh load",
      (ms) => ms.length === caughtUp.length && ms.some((m) => m.reactions.includes("🎉1")),
    );
    expect(caughtUp).toEqual(reloaded);
    await context.close();
  }, 180_000);

  it("screenshots of the main screens, light and dark, desktop and phone", async () => {
    for (const scheme of ["light", "dark"] as const) {
      for (const [device, viewport] of [
        ["desktop", { width: 1280, height: 800 }],
        ["phone", { width: 390, height: 844 }],
      ] as const) {
        const { page, context } = await signIn(browser, app, "alice", { viewport, colorScheme: scheme });
        await openRoom(page, "secret plans");
        await until(page, "the room", (ms) => ms.length > 0);
        await page.screenshot({ path: join(SHOTS, `room-${device}-${scheme}.png`) });
        if (device === "desktop") {
          await page.getByTestId("open-directory").click();
          await page.locator('[data-testid="directory-room"]').first().waitFor();
          await page.screenshot({ path: join(SHOTS, `directory-${device}-${scheme}.png`) });
        }
        await context.close();
      }
    }
    expect(existsSync(join(SHOTS, "room-phone-dark.png"))).toBe(true);
  });
});
