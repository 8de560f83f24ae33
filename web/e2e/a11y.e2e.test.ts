import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustSend } from "../../test/commandClient.ts";
import { buildWeb, HAS_CHROMIUM, launchBrowser, natsAs, signIn, startApp, type App } from "./harness.ts";
import { contrastReport, focusedElement, horizontalOverflow, type Focused } from "./pageChecks.ts";

/**
 * Accessibility and fit of the web client in chromium (issue 6, item 9): keyboard navigation across
 * rooms and messages with focus where the user expects it, new messages announced politely, text
 * contrast in both themes, the layout from 390 px to a large desktop; and unbanning in room
 * settings. The keyboard tests press keys only (page.keyboard) and check document.activeElement
 * after each step.
 */

type Nats = Awaited<ReturnType<typeof natsAs>>;

/** What has focus in `page`. */
const focused = (page: Page): Promise<Focused> => page.evaluate(focusedElement);

/** Presses `key` and answers what has focus then. */
async function press(page: Page, key: string): Promise<Focused> {
  await page.keyboard.press(key);
  return focused(page);
}

/** Presses each key in turn; answers `pick` of what has focus after each. */
async function walk<T>(page: Page, keys: string[], pick: (f: Focused) => T): Promise<T[]> {
  const seen: T[] = [];
  for (const key of keys) seen.push(pick(await press(page, key)));
  return seen;
}

/** Waits until what has focus satisfies `ok` (focus may move a frame after the key), showing what had it otherwise. */
async function focusUntil(page: Page, what: string, ok: (f: Focused) => boolean, timeoutMs = 5000): Promise<Focused> {
  const deadline = Date.now() + timeoutMs;
  let last = await focused(page);
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`focus: expected ${what}, but it is on ${JSON.stringify(last)}`);
    await page.waitForTimeout(50);
    last = await focused(page);
  }
  return last;
}

/** Presses Tab (Shift+Tab with `back`) until `ok`, at most `max` times; answers every stop on the way. */
async function tabTo(
  page: Page,
  what: string,
  ok: (f: Focused) => boolean,
  options: { back?: boolean; max?: number } = {},
): Promise<Focused[]> {
  const stops: Focused[] = [];
  for (let i = 0; i < (options.max ?? 20); i++) {
    const f = await press(page, options.back === true ? "Shift+Tab" : "Tab");
    stops.push(f);
    if (ok(f)) return stops;
  }
  throw new Error(
    `Tab never reached ${what}; it went through ${stops.map((s) => `${s.what} "${s.text.slice(0, 30)}"`).join(" → ")}`,
  );
}

/** The message ids of the room's timeline as rendered, oldest first. */
const messageIds = (page: Page): Promise<string[]> =>
  page.$$eval('[data-testid="room-view"] article.tl-msg', (els) =>
    els.map((el) => el.getAttribute("data-message-id") ?? ""),
  );

async function waitForMessage(page: Page, text: string): Promise<void> {
  await page
    .locator('[data-testid="room-view"] article.tl-msg', { hasText: text })
    .first()
    .waitFor({ timeout: 15_000 });
}

/** Opens the sidebar where it is a drawer (phone widths). */
async function sidebar(page: Page): Promise<void> {
  if (!(await page.locator('#sidebar [data-testid="open-directory"]').isVisible()))
    await page.getByTestId("drawer-toggle").click();
}

async function openRoom(page: Page, name: string): Promise<void> {
  await sidebar(page);
  await page.locator('[data-testid="room-item"]', { hasText: name }).first().click();
  await page.locator('[data-testid="room-title"]', { hasText: name }).waitFor();
}

/** Picks a theme as the user does, in the user menu, and closes the menu. */
async function setTheme(page: Page, theme: "light" | "dark" | "system"): Promise<void> {
  await page.getByTestId("user-menu-button").click();
  await page.getByTestId("theme-select").selectOption(theme);
  await page.keyboard.press("Escape");
}

describe.skipIf(!HAS_CHROMIUM)("accessibility and fit in the browser", () => {
  let app: App;
  let browser: Browser;
  let alice: Nats;
  let bob: Nats;
  let page: Page;
  const rooms: Record<"alpha" | "beta" | "gamma", string> = { alpha: "", beta: "", gamma: "" };
  const ids: Record<"edited" | "mention" | "quote" | "last", string> = { edited: "", mention: "", quote: "", last: "" };

  const cmd = (who: Nats, action: string, body: Record<string, unknown>) => mustSend(who.nc, who.userId, action, body);

  beforeAll(async () => {
    await buildWeb();
    app = await startApp({ NATTER_RATE_LIMIT: "off" });
    browser = await launchBrowser();
    [alice, bob] = [await natsAs(app, "alice"), await natsAs(app, "bob")];
    await cmd(alice, "user.profile", { displayName: "alice" });
    await cmd(bob, "user.profile", { displayName: "bob" });
    for (const name of ["alpha", "beta", "gamma"] as const) {
      rooms[name] = (await cmd(alice, "room.create", { name, kind: "public", topic: `the ${name} room` })).result[
        "roomId"
      ] as string;
      await cmd(bob, "room.join", { roomId: rooms[name] });
    }
    const post = async (who: Nats, body: string, extra: Record<string, unknown> = {}) =>
      (await cmd(who, "msg.post", { roomId: rooms.alpha, body, ...extra })).result["messageId"] as string;
    // alpha: an edited message, a mention with a link and code, reactions (one of them alice's), a quote, long unbroken text.
    ids.edited = await post(alice, "first from alice");
    await cmd(alice, "msg.edit", { roomId: rooms.alpha, messageId: ids.edited, body: "first from alice, edited" });
    ids.mention = await post(bob, "hello @alice, see [the docs](https://example.com/docs) and `npm test`", {
      mentions: [alice.userId],
    });
    await cmd(alice, "msg.react", { roomId: rooms.alpha, messageId: ids.mention, emoji: "👍" });
    await cmd(bob, "msg.react", { roomId: rooms.alpha, messageId: ids.mention, emoji: "🎉" });
    ids.quote = await post(bob, "> a quoted line\n\n**bold** and *italic* words");
    ids.last = await post(
      bob,
      `a long address https://example.com/${"x".repeat(180)} and a block\n\n\`\`\`\n${"y".repeat(300)}\n\`\`\``,
    );
    // beta: a mention of alice she has not read (the sidebar's badges); an invitation to a private room.
    await cmd(bob, "msg.post", { roomId: rooms.beta, body: "@alice over here", mentions: [alice.userId] });
    await cmd(bob, "room.create", { name: "invite only", kind: "private", members: [] }).then((r) =>
      cmd(bob, "room.invite", { roomId: r.result["roomId"], userId: alice.userId }),
    );
    page = (await signIn(browser, app, "alice")).page;
  }, 240_000);

  afterAll(async () => {
    await alice?.nc.close();
    await bob?.nc.close();
    await browser?.close();
    await app?.stop();
  });

  it("the keyboard moves through the rooms, opens one, reaches the timeline, moves between messages and into a message's actions", async () => {
    await page.locator('[data-testid="room-item"]').nth(2).waitFor();
    // From the top of the page: the skip link first, then on to the first room.
    const stops = await tabTo(page, "the first room", (f) => f.testId === "room-item");
    expect(stops[0]!.what).toContain("a.skip-link");
    expect(stops.at(-1)!.roomId).toBe(rooms.alpha);

    // The arrows, Home and End move between the rooms (and stop at the ends).
    expect(
      await walk(
        page,
        ["ArrowDown", "ArrowDown", "ArrowDown", "ArrowUp", "Home", "ArrowUp", "End", "Home"],
        (f) => f.roomId,
      ),
    ).toEqual([rooms.beta, rooms.gamma, rooms.gamma, rooms.beta, rooms.alpha, rooms.alpha, rooms.gamma, rooms.alpha]);

    // Enter opens the room; focus stays on it in the list, now the current page.
    await page.keyboard.press("Enter");
    await page.locator('[data-testid="room-title"]', { hasText: "alpha" }).waitFor();
    await waitForMessage(page, "a long address");
    expect(await focused(page)).toMatchObject({ roomId: rooms.alpha, ariaCurrent: "page" });

    // Tab goes on through the room's header to the timeline: one stop, its newest message (the
    // controls inside other messages are no Tab stops).
    const toTimeline = await tabTo(page, "a message", (f) => f.what.startsWith("article.tl-msg"));
    const order = await messageIds(page);
    expect(order).toEqual([ids.edited, ids.mention, ids.quote, ids.last]);
    expect(toTimeline.at(-1)!.messageId).toBe(ids.last);
    const afterRooms = toTimeline.filter((s) => s.testId !== "room-item").map((s) => s.testId ?? s.what);
    expect(afterRooms).toEqual(["room-settings-button", expect.stringMatching(/^article\.tl-msg/)]);

    // Between messages: ArrowUp/Down, Home, End, stopping at the ends.
    expect(
      await walk(page, ["ArrowUp", "ArrowUp", "Home", "ArrowUp", "End", "ArrowDown", "ArrowDown"], (f) => f.messageId),
    ).toEqual([ids.quote, ids.mention, ids.edited, ids.edited, ids.last, ids.last, ids.last]);

    // A message's actions: Enter opens its toolbar on its first button; the arrows move along it; Escape goes back to the message.
    await press(page, "ArrowUp");
    expect((await press(page, "ArrowUp")).messageId).toBe(ids.mention);
    expect(await press(page, "Enter")).toMatchObject({ inToolbar: true, label: "Add reaction" });
    expect((await press(page, "ArrowRight")).label).toBe("Reply in thread");
    expect((await press(page, "ArrowLeft")).label).toBe("Add reaction");
    expect((await press(page, "ArrowLeft")).label).toBe("Seen by");
    expect(await press(page, "Escape")).toMatchObject({ messageId: ids.mention, inToolbar: false });

    // The reaction picker: focus on its first emoji, the arrows move, Enter reacts and focus goes back to the message.
    await press(page, "Enter");
    expect(await press(page, "Enter")).toMatchObject({ label: "React with 👍" });
    expect((await press(page, "ArrowRight")).label).toBe("React with ❤️");
    await page.keyboard.press("Enter");
    await focusUntil(page, "the message after reacting", (f) => f.messageId === ids.mention);
    await page
      .locator(`article[data-message-id="${ids.mention}"] .tl-reaction[aria-label="❤️ 1, including you"]`)
      .waitFor();
  });

  it("focus goes into a dialog when it opens and back to its opener when Escape closes it; after a send it stays in the composer", async () => {
    // Starting on a message of alpha (where the test above left off).
    await openRoom(page, "alpha");
    await waitForMessage(page, "a long address");
    await page.locator(`article[data-message-id="${ids.mention}"]`).focus();
    // From the toolbar (which closes when focus leaves the message): back to the message.
    expect((await focused(page)).messageId).toBe(ids.mention);
    await press(page, "Enter");
    expect((await press(page, "ArrowLeft")).label).toBe("Seen by");
    await page.keyboard.press("Enter");
    await page.getByTestId("read-by").waitFor();
    await focusUntil(page, "inside the Seen by dialog", (f) => f.dialog === "read-by");
    await page.keyboard.press("Escape");
    await page.getByTestId("read-by").waitFor({ state: "detached" });
    expect(await focused(page)).toMatchObject({ messageId: ids.mention, dialog: null });

    // The edited marker of the first message: Tab from the message reaches it; its history dialog returns focus to it.
    expect((await press(page, "Home")).messageId).toBe(ids.edited);
    expect(await press(page, "Tab")).toMatchObject({ text: "(edited)" });
    await page.keyboard.press("Enter");
    await page.getByTestId("edit-history").waitFor();
    await focusUntil(page, "inside the history dialog", (f) => f.dialog === "edit-history");
    await page.keyboard.press("Escape");
    await page.getByTestId("edit-history").waitFor({ state: "detached" });
    expect(await focused(page)).toMatchObject({ text: "(edited)", dialog: null });

    // Room settings from the header: focus on its first field, back to the button.
    await tabTo(page, "the room settings button", (f) => f.testId === "room-settings-button", { back: true });
    await page.keyboard.press("Enter");
    await page.getByTestId("room-settings").waitFor();
    expect(await focusUntil(page, "inside room settings", (f) => f.dialog === "room-settings")).toMatchObject({
      testId: "settings-name-input",
    });
    await page.keyboard.press("Escape");
    await page.getByTestId("room-settings").waitFor({ state: "detached" });
    expect((await focused(page)).testId).toBe("room-settings-button");

    // The composer, by Tab; Enter sends and focus stays there, the box empty for the next message.
    await tabTo(page, "the composer", (f) => f.testId === "composer-input");
    await page.keyboard.type("sent from the keyboard");
    await page.keyboard.press("Enter");
    await page
      .locator('[data-testid="room-view"] article.tl-msg:not(.tl-pending)', { hasText: "sent from the keyboard" })
      .waitFor();
    expect((await focused(page)).testId).toBe("composer-input");
    expect(await page.getByTestId("composer-input").inputValue()).toBe("");
  });

  it("a message from someone else is announced in a polite live region, in the open room and in another", async () => {
    await openRoom(page, "alpha");
    // What the live regions say, as a screen reader hears it: each time a region's text changes to
    // something new and not empty.
    await page.evaluate(() => {
      const said: { live: string | null; text: string }[] = [];
      (window as unknown as { said: typeof said }).said = said;
      const last = new Map<Element, string>();
      new MutationObserver((records) => {
        const regions = new Set<Element>();
        for (const r of records) {
          const region = (r.target instanceof Element ? r.target : r.target.parentElement)?.closest("[aria-live]");
          if (region !== null && region !== undefined) regions.add(region);
        }
        for (const region of regions) {
          const text = (region.textContent ?? "").trim();
          if (text !== "" && last.get(region) !== text) said.push({ live: region.getAttribute("aria-live"), text });
          last.set(region, text);
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const said = () =>
      page.evaluate(() =>
        (window as unknown as { said: { live: string | null; text: string }[] }).said.filter((s) =>
          /bob|alice|own words/.test(s.text),
        ),
      );
    const until = async (what: string, ok: (s: { live: string | null; text: string }[]) => boolean) => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const now = await said();
        if (ok(now)) return now;
        if (Date.now() > deadline) throw new Error(`${what}: the live regions said ${JSON.stringify(now)}`);
        await page.waitForTimeout(100);
      }
    };
    const hi = { live: "polite", text: "New message from bob: are you there?" };
    await cmd(bob, "msg.post", { roomId: rooms.alpha, body: "are you **there**?" });
    expect(await until("bob's message", (s) => s.length > 0)).toEqual([hi]);
    // The same words again are said again.
    await cmd(bob, "msg.post", { roomId: rooms.alpha, body: "are you **there**?" });
    expect(await until("bob's message again", (s) => s.length > 1)).toEqual([hi, hi]);
    // In a room that is not open: said with the room's name.
    await cmd(bob, "msg.post", { roomId: rooms.gamma, body: "over in gamma" });
    expect(await until("the message in gamma", (s) => s.length > 2)).toEqual([
      hi,
      hi,
      { live: "polite", text: "New message from bob in #gamma" },
    ]);
    // Alice's own message is not announced to her.
    await cmd(alice, "msg.post", { roomId: rooms.alpha, body: "my own words" });
    await waitForMessage(page, "my own words");
    await page.waitForTimeout(500);
    expect(await said()).toHaveLength(3);
  });

  it("text contrast holds in the light and the dark theme: sidebar, header, timeline, composer, user menu, room settings", async () => {
    await openRoom(page, "alpha");
    await waitForMessage(page, "a long address");
    const report: string[] = [];
    for (const theme of ["light", "dark"] as const) {
      // The theme as the user picks it, in the user menu.
      await page.getByTestId("user-menu-button").click();
      await page.getByTestId("theme-select").selectOption(theme);
      expect(await page.evaluate(() => document.documentElement.getAttribute("data-theme"))).toBe(theme);
      const menu = await page.evaluate(contrastReport, {
        scope: '[data-testid="user-menu"]',
        mustCover: [".field > span", "label", "select", '[data-testid="logout-button"]'],
      });
      report.push(...menu.failures.map((f) => `${theme}, user menu: ${f}`));
      expect(menu.uncovered, `${theme}: the user menu's text was measured`).toEqual([]);
      await page.keyboard.press("Escape");

      // The room with its messages: the mention's message focused (its toolbar shows), bob typing.
      await page.mouse.move(1, 790);
      await page.locator(`article[data-message-id="${ids.mention}"]`).focus();
      await page.locator(`article[data-message-id="${ids.mention}"] [role="toolbar"]`).waitFor();
      bob.nc.publish(`typing.${bob.userId}.${rooms.alpha}`, "{}");
      await page.locator('[data-testid="typing-indicator"][data-typing="yes"]').waitFor();
      const main = await page.evaluate(contrastReport, {
        scope: "body",
        exclude: ["dialog", ".toasts"],
        mustCover: [
          ".skip-link",
          ".brand",
          ".connection-label",
          ".user-name",
          ".sidebar-heading",
          ".room-name",
          '.room-item[aria-current="page"]',
          ".mention-badge",
          ".unread-badge",
          ".invitation",
          '[data-testid="accept-invitation"]',
          ".room-title",
          ".room-topic",
          ".room-members-count",
          ".tl-head-line",
          ".tl-divider",
          ".tl-author",
          ".tl-time",
          ".tl-body",
          ".tl-body .mention",
          ".tl-body a",
          ".tl-body code",
          ".tl-body blockquote",
          ".tl-edited",
          ".tl-reaction-count",
          '.tl-reaction[aria-pressed="true"]',
          ".tl-actions button",
          ".typing-indicator",
        ],
      });
      report.push(...main.failures.map((f) => `${theme}, main screen: ${f}`));
      expect(main.uncovered, `${theme}: these were measured on the main screen`).toEqual([]);
      // The composer with text in it (and Send enabled: a disabled control is exempt).
      await page.getByTestId("composer-input").fill("a draft");
      const composer = await page.evaluate(contrastReport, {
        scope: '[data-testid="composer"]',
        mustCover: [".composer-input", ".send-button"],
      });
      report.push(...composer.failures.map((f) => `${theme}, composer: ${f}`));
      expect(composer.uncovered).toEqual([]);
      await page.getByTestId("composer-input").fill("");

      // A dialog: room settings.
      await page.getByTestId("room-settings-button").click();
      await page.getByTestId("no-bans").waitFor();
      const dialog = await page.evaluate(contrastReport, {
        scope: '[data-testid="room-settings"]',
        mustCover: [
          ".dialog-header h2",
          ".field > span",
          '[data-testid="settings-name-input"]',
          ".member-name",
          "select",
          '[data-testid="member-ban"]',
          '[data-testid="no-bans"]',
          '[data-testid="settings-archive"]',
        ],
      });
      report.push(...dialog.failures.map((f) => `${theme}, room settings: ${f}`));
      expect(dialog.uncovered, `${theme}: these were measured in room settings`).toEqual([]);
      await page.keyboard.press("Escape");
      await page.getByTestId("room-settings").waitFor({ state: "detached" });
    }
    expect(report, "text below the WCAG AA contrast ratio").toEqual([]);
    await setTheme(page, "system");
  });

  it("a message being sent, and one that could not be sent, keep their contrast in both themes", async () => {
    // alice's posts are lost on the way (her other traffic passes): the message stays pending,
    // then fails after the client's three tries of 8 s.
    let losePosts = false;
    const { page: p, context } = await signIn(browser, app, "alice", {
      prepare: (c) =>
        c.routeWebSocket(/.*/, (ws) => {
          const server = ws.connectToServer();
          ws.onMessage((m) => {
            if (losePosts && (typeof m === "string" ? m : m.toString("latin1")).includes(".msg.post ")) return;
            server.send(m);
          });
        }),
    });
    await openRoom(p, "alpha");
    await waitForMessage(p, "a long address");
    losePosts = true;
    await p.getByTestId("composer-input").fill("lost on the way, with a [link](https://example.com)");
    await p.getByTestId("composer-input").press("Enter");
    const report: string[] = [];
    const measure = async (state: string, mustCover: string[]) => {
      for (const theme of ["light", "dark"] as const) {
        await setTheme(p, theme);
        await p.mouse.move(1, 790);
        const r = await p.evaluate(contrastReport, { scope: "body", exclude: ["dialog"], mustCover });
        report.push(...r.failures.map((f) => `${theme}, ${state}: ${f}`));
        expect(r.uncovered, `${theme}, ${state}: these were measured`).toEqual([]);
      }
    };
    await p.locator("article.tl-pending .tl-status").waitFor();
    await measure("sending", [".tl-pending .tl-body", ".tl-pending .tl-body a", ".tl-pending .tl-status"]);
    await p.locator("article.tl-failed .tl-retry").waitFor({ timeout: 40_000 });
    await measure("not sent", [".tl-failed .tl-body", ".tl-status-failed", ".tl-retry", ".toast"]);
    expect(report, "text below the WCAG AA contrast ratio").toEqual([]);
    await context.close();
  }, 60_000);

  it("from 390 px to 1920 px nothing scrolls sideways; at 390 the rooms are a drawer the keyboard opens and closes", async () => {
    const parts = [
      ".app",
      ".app-header",
      ".main",
      ".room-header",
      ".tl-scroll",
      ".composer",
      ".thread-panel",
      "dialog[open]",
      ".user-menu-panel",
      ".sidebar.open",
    ];
    for (const viewport of [
      { width: 390, height: 844 },
      { width: 1920, height: 1080 },
    ]) {
      const { page: p, context } = await signIn(browser, app, "alice", { viewport });
      const problems: string[] = [];
      const check = async (screen: string) =>
        problems.push(
          ...(await p.evaluate(horizontalOverflow, parts)).map((x) => `${viewport.width} px, ${screen}: ${x}`),
        );
      await p.getByTestId("home").waitFor();
      await check("home");
      await openRoom(p, "alpha");
      await waitForMessage(p, "a long address");
      await check("room");
      await p.locator(`article[data-message-id="${ids.mention}"]`).hover();
      await p
        .locator(`article[data-message-id="${ids.mention}"]`)
        .getByRole("button", { name: "Reply in thread" })
        .click();
      await p.getByTestId("thread-panel").waitFor();
      await check("thread");
      await p.getByTestId("close-thread").click();
      await p.getByTestId("room-settings-button").click();
      await p.getByTestId("room-settings").waitFor();
      await check("room settings");
      await p.keyboard.press("Escape");
      await p.getByTestId("user-menu-button").click();
      await check("user menu");
      await p.keyboard.press("Escape");

      if (viewport.width === 390) {
        // The rooms are out of sight until the drawer button opens them; the keyboard does it all.
        expect(await p.locator("#sidebar").isVisible()).toBe(false);
        await tabTo(p, "the drawer button", (f) => f.testId === "drawer-toggle", { back: true });
        await p.keyboard.press("Enter");
        await p.locator("#sidebar.open").waitFor();
        await p.waitForFunction(() => document.getElementById("sidebar")!.getBoundingClientRect().left >= 0);
        // Focus goes into the drawer, on the room being read; the arrows move in it.
        expect(await focusUntil(p, "the current room in the drawer", (f) => f.testId === "room-item")).toMatchObject({
          roomId: rooms.alpha,
          ariaCurrent: "page",
        });
        await check("drawer");
        // The page behind the open drawer is out of reach, as behind a dialog.
        expect(await p.evaluate(() => document.getElementById("main")!.inert)).toBe(true);
        expect((await press(p, "ArrowDown")).roomId).toBe(rooms.beta);
        // Escape closes it, back to its button.
        expect((await press(p, "Escape")).testId).toBe("drawer-toggle");
        await p.locator("#sidebar.open").waitFor({ state: "detached" });
        // Choosing a room closes it and focus goes to the room.
        await p.keyboard.press("Enter");
        await focusUntil(p, "a room in the drawer", (f) => f.testId === "room-item");
        await press(p, "ArrowDown");
        await p.keyboard.press("Enter");
        await p.locator('[data-testid="room-title"]', { hasText: "beta" }).waitFor();
        expect((await focusUntil(p, "the room just opened", (f) => f.what.startsWith("main"))).what).toBe(
          "main#main.main",
        );
        await p.locator("#sidebar").waitFor({ state: "hidden" });
        expect(await p.evaluate(() => document.getElementById("main")!.inert)).toBe(false);
        await check("another room");
        // A room created from the drawer: the dialog closes, and so does the drawer over the new room.
        await p.getByTestId("drawer-toggle").click();
        await p.locator("#sidebar.open").waitFor();
        await p.getByTestId("create-room").click();
        await p.getByTestId("room-name-input").fill("made on a phone");
        await p.getByTestId("create-room-submit").click();
        await p.locator('[data-testid="room-title"]', { hasText: "made on a phone" }).waitFor();
        await p.locator("#sidebar").waitFor({ state: "hidden" });
        expect((await focusUntil(p, "the room just created", (f) => f.what.startsWith("main"))).what).toBe(
          "main#main.main",
        );
      } else {
        expect(await p.locator("#sidebar").isVisible()).toBe(true);
        expect(await p.getByTestId("drawer-toggle").isVisible()).toBe(false);
      }
      await context.close();
      expect(problems).toEqual([]);
    }
  });

  it("a moderator bans bob, sees him in the room's bans, unbans him, and bob can join again", async () => {
    const town = (await cmd(alice, "room.create", { name: "town", kind: "public" })).result["roomId"] as string;
    await cmd(bob, "room.join", { roomId: town });
    const bobPage = (await signIn(browser, app, "bob")).page;
    await bobPage.locator(`[data-testid="room-item"][data-room-id="${town}"]`).waitFor();

    await openRoom(page, "town");
    await page.getByTestId("room-settings-button").click();
    const settings = page.getByTestId("room-settings");
    await settings.getByTestId("no-bans").waitFor();
    await settings.getByRole("button", { name: "Ban bob" }).click();
    // bob leaves the members for the bans, and focus follows him there.
    const banned = settings.locator(`[data-testid="banned-user"][data-user-id="${bob.userId}"]`);
    await banned.waitFor();
    expect(await banned.textContent()).toContain("by alice");
    await settings.locator(`[data-testid="member"][data-user-id="${bob.userId}"]`).waitFor({ state: "detached" });
    expect(await focused(page)).toMatchObject({ dialog: "room-settings", text: "Banned (1)" });
    // bob loses the room and cannot find it in the directory.
    await bobPage.locator(`[data-testid="room-item"][data-room-id="${town}"]`).waitFor({ state: "detached" });
    await bobPage.getByTestId("open-directory").click();
    await bobPage.locator('[data-testid="directory-room"]').first().waitFor();
    expect(await bobPage.locator(`[data-testid="directory-room"][data-room-id="${town}"]`).count()).toBe(0);
    await bobPage.keyboard.press("Escape");

    // The ban list survives a reopening (it is the server's), and Unban lifts it.
    await page.keyboard.press("Escape");
    await settings.waitFor({ state: "detached" });
    await page.getByTestId("room-settings-button").click();
    await banned.waitFor();
    await settings.getByRole("button", { name: "Unban bob" }).click();
    await settings.getByTestId("no-bans").waitFor();
    expect(await focused(page)).toMatchObject({ dialog: "room-settings", text: "Banned (0)" });
    await settings.getByRole("status").filter({ hasText: "Unbanned bob." }).waitFor();
    await page.keyboard.press("Escape");

    // bob finds the room again and joins; alice sees him post.
    await bobPage.getByTestId("open-directory").click();
    await bobPage.locator(`[data-testid="directory-room"][data-room-id="${town}"]`).getByTestId("join-room").click();
    await bobPage.locator('[data-testid="room-title"]', { hasText: "town" }).waitFor();
    await bobPage.locator(`[data-testid="room-item"][data-room-id="${town}"]`).waitFor();
    await bobPage.getByTestId("composer-input").fill("back in town");
    await bobPage.getByTestId("composer-input").press("Enter");
    await waitForMessage(page, "back in town");
    await bobPage.context().close();
  });
});
