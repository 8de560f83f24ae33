import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb, HAS_CHROMIUM, launchBrowser, signIn, startApp, type App } from "./harness.ts";

const ROOM = "names";

/** The author shown on the message with `body` in the open room (its group's first message). */
function authorOf(page: Page, body: string) {
  return page.locator('[data-testid="room-view"] article.tl-msg', { hasText: body }).first().locator(".tl-author");
}

/** Waits until `page`'s room shows `body` by an author named `name`, with no reload. */
async function seesMessage(page: Page, body: string, name: string): Promise<void> {
  await page
    .locator('[data-testid="room-view"] article.tl-msg', { hasText: body })
    .first()
    .waitFor({ timeout: 15_000 });
  await expect.poll(() => authorOf(page, body).textContent(), { timeout: 15_000 }).toBe(name);
}

/**
 * Types in the composer at a person's pace (others see the typing), waits until `watcher` shows it
 * by `name`, then sends. The pace matters: the server relays one typing signal per second per
 * person and room, and the client sends one every 2 s, so a burst right after the last message
 * would say nothing; it is watched while typing goes on.
 */
async function typeAndSend(page: Page, watcher: Page, text: string, name: string): Promise<void> {
  const input = page.locator('[data-testid="composer-input"]');
  const seen = watcher
    .locator('[data-testid="typing-indicator"]', { hasText: `${name} is typing` })
    .waitFor({ timeout: 15_000 });
  await input.pressSequentially(text, { delay: 2500 / text.length });
  await seen;
  await input.press("Enter");
}

describe.skipIf(!HAS_CHROMIUM)("people are shown by name, live, wherever natter is opened", () => {
  let app: App;
  let browser: Browser;
  let alice: Page;

  beforeAll(async () => {
    await buildWeb();
    app = await startApp();
    browser = await launchBrowser();
    alice = (await signIn(browser, app, "alice")).page;
    await alice.getByTestId("create-room").click();
    await alice.getByTestId("room-name-input").fill(ROOM);
    await alice.getByTestId("room-kind-public").check();
    await alice.getByTestId("create-room-submit").click();
    await alice.locator('[data-testid="room-title"]', { hasText: ROOM }).waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it("bob, never seen by alice, signs in at 127.0.0.1 and joins: alice sees his typing and first message under his name", async () => {
    const { page: bob } = await signIn(browser, app, "bob", { origin: app.at("127.0.0.1") });
    await bob.getByTestId("open-directory").click();
    await bob.locator('[data-testid="directory-room"]', { hasText: ROOM }).first().getByTestId("join-room").click();
    await bob.locator('[data-testid="room-title"]', { hasText: ROOM }).waitFor();
    await typeAndSend(bob, alice, "hello from 127.0.0.1", "bob");
    await seesMessage(alice, "hello from 127.0.0.1", "bob");
    expect(await alice.locator('[data-testid="room-view"]').textContent()).not.toMatch(/user-[0-9a-f]{8}/);
    await bob.context().close();
  });

  it("bob signs in again at localhost and chats on; then he changes his display name and alice sees the new one at once", async () => {
    const { page: bob } = await signIn(browser, app, "bob", { origin: app.at("localhost") });
    await bob.locator('[data-testid="room-item"]', { hasText: ROOM }).first().click();
    await bob.locator('[data-testid="room-title"]', { hasText: ROOM }).waitFor();
    await alice.getByTestId("composer-input").fill("welcome back, bob");
    await alice.getByTestId("composer-input").press("Enter");
    await typeAndSend(bob, alice, "hello from localhost", "bob");
    await seesMessage(alice, "hello from localhost", "bob");

    await bob.getByTestId("user-menu-button").click();
    await bob.getByTestId("display-name-input").fill("Bobby Tables");
    await bob.getByTestId("display-name-save").click();
    await expect.poll(() => bob.getByTestId("my-name").textContent(), { timeout: 15_000 }).toBe("Bobby Tables");
    await bob.keyboard.press("Escape");

    // Alice's page was never reloaded: the messages already shown take the new name.
    await expect
      .poll(() => authorOf(alice, "hello from 127.0.0.1").textContent(), { timeout: 15_000 })
      .toBe("Bobby Tables");
    await expect
      .poll(() => authorOf(alice, "hello from localhost").textContent(), { timeout: 15_000 })
      .toBe("Bobby Tables");
    await alice.getByTestId("composer-input").fill("nice name");
    await alice.getByTestId("composer-input").press("Enter");
    await typeAndSend(bob, alice, "call me Bobby", "Bobby Tables");
    await seesMessage(alice, "call me Bobby", "Bobby Tables");
    await bob.context().close();
  });
});
