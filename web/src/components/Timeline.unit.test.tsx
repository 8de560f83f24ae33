// @vitest-environment happy-dom
import { createSignal } from "solid-js";
import { render } from "solid-js/web";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { messageFixture } from "../stores/fixtures.ts";
import { Timeline, type TimelineProps } from "./Timeline.tsx";
import {
  GROUP_WINDOW_MS,
  groupedWithPrevious,
  latestSeq,
  localDayKey,
  newerThan,
  rowDecor,
  startsDay,
  unreadIndex,
  type TimelineMessage,
} from "./timelineRows.ts";

/** 10:00 local time on 2026-11-27, plus `minutes`: local, so day boundaries hold in any time zone. */
const at = (minutes: number, day = 27) => new Date(2026, 10, day, 10, minutes).toISOString();

let seq = 0;
/** A message by `authorId` at `postedAt`, with the next seq. */
const msg = (authorId: string, postedAt: string, extra: Partial<TimelineMessage> = {}): TimelineMessage =>
  messageFixture(++seq, { authorId, postedAt, roomId: "r1", ...extra });

describe("grouping, day dividers and the unread separator", () => {
  test("consecutive messages of one author within 5 minutes are grouped", () => {
    const a = msg("alice", at(0));
    const b = msg("alice", at(4));
    const c = msg("alice", at(4 + GROUP_WINDOW_MS / 60_000));
    const d = msg("bob", at(10));
    expect(groupedWithPrevious(undefined, a)).toBe(false);
    expect(groupedWithPrevious(a, b)).toBe(true);
    expect(groupedWithPrevious(b, c)).toBe(false); // exactly 5 minutes apart
    expect(groupedWithPrevious(c, d)).toBe(false); // another author
    expect(groupedWithPrevious(a, b, true)).toBe(false); // the unread separator between them
  });

  test("a new local day starts a divider and breaks a group", () => {
    const late = { ...msg("alice", new Date(2026, 10, 26, 23, 58).toISOString()) };
    const early = msg("alice", new Date(2026, 10, 27, 0, 1).toISOString());
    expect(localDayKey(early.postedAt)).toBe("2026-11-27");
    expect(startsDay(undefined, late)).toBe(true);
    expect(startsDay(late, early)).toBe(true);
    expect(groupedWithPrevious(late, early)).toBe(false);
    expect(startsDay(early, msg("bob", at(30)))).toBe(false);
  });

  test("the unread separator goes before the first later message from someone else", () => {
    const list = [msg("bob", at(0)), msg("alice", at(1)), msg("alice", at(2)), msg("bob", at(3)), msg("carol", at(4))];
    const s = list.map((m) => m.seq);
    expect(unreadIndex(list, s[0]!, "alice")).toBe(3); // alice's own messages are never unread
    expect(unreadIndex(list, s[3]!, "alice")).toBe(4);
    expect(unreadIndex(list, s[4]!, "alice")).toBe(-1);
    expect(unreadIndex(list, 0, "alice")).toBe(0);
    expect(unreadIndex([], 0, "alice")).toBe(-1);
    // Unconfirmed sends at the end are never the separator's place.
    const pending = [...list, msg("alice", at(5), { pending: true, seq: 0 })];
    expect(unreadIndex(pending, s[4]!, "alice")).toBe(-1);
  });

  test("row decorations: divider on the first message of each day, separator, grouping", () => {
    const list = [
      msg("bob", at(0, 26)),
      msg("bob", at(1, 26)),
      msg("bob", at(0)),
      msg("bob", at(1)),
      msg("bob", at(2)),
    ];
    const unread = unreadIndex(list, list[3]!.seq, "alice");
    expect(unread).toBe(4);
    const decor = list.map((_, i) => rowDecor(list, i, unread));
    expect(decor.map((d) => d.day)).toEqual(["2026-11-26", null, "2026-11-27", null, null]);
    expect(decor.map((d) => d.unread)).toEqual([false, false, false, false, true]);
    expect(decor.map((d) => d.grouped)).toEqual([false, true, false, true, false]);
  });

  test("new messages below count only others' messages after the newest one seen", () => {
    const list = [
      msg("bob", at(0)),
      msg("alice", at(1)),
      msg("bob", at(2)),
      msg("carol", at(3)),
      msg("alice", at(4), { pending: true, seq: 0 }),
    ];
    expect(newerThan(list, list[1]!.seq, "alice")).toBe(2);
    expect(newerThan(list, list[3]!.seq, "alice")).toBe(0);
    expect(latestSeq(list)).toBe(list[3]!.seq);
  });
});

// happy-dom has no layout: give the scroll pane a height, and let rows keep their estimates.
const descriptor = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "clientHeight");
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains("tl-scroll") ? 600 : 0;
    },
  });
});
afterAll(() => {
  if (descriptor) Object.defineProperty(HTMLElement.prototype, "clientHeight", descriptor);
});

let dispose: (() => void) | undefined;
afterEach(() => {
  dispose?.();
  dispose = undefined;
  document.body.innerHTML = "";
});

/** Renders a timeline into a 600px-high container; returns it, the handlers and a setter for the messages. */
function mount(messages: TimelineMessage[], extra: Partial<TimelineProps> = {}) {
  const container = document.createElement("div");
  container.style.height = "600px";
  document.body.append(container);
  const handlers = {
    onReact: vi.fn<TimelineProps["onReact"]>(),
    onUnreact: vi.fn<TimelineProps["onUnreact"]>(),
    onReply: vi.fn<TimelineProps["onReply"]>(),
    onEdit: vi.fn<TimelineProps["onEdit"]>(),
    onDelete: vi.fn<TimelineProps["onDelete"]>(),
    onRetry: vi.fn<TimelineProps["onRetry"]>(),
    onShowHistory: vi.fn<TimelineProps["onShowHistory"]>(),
    onShowReadBy: vi.fn<TimelineProps["onShowReadBy"]>(),
    onVisibleLatest: vi.fn<TimelineProps["onVisibleLatest"]>(),
  };
  const [list, setList] = createSignal(messages);
  const renderBody = vi.fn((body: string) => `<p>${body.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</p>`);
  dispose = render(
    () => (
      <Timeline
        messages={list()}
        me="alice"
        nameOf={(u) => u.toUpperCase()}
        lastReadSeq={0}
        hasOlder={false}
        loadOlder={() => Promise.resolve()}
        canModerate={false}
        renderBody={renderBody}
        {...handlers}
        {...extra}
      />
    ),
    container,
  );
  const article = (id: string) => container.querySelector<HTMLElement>(`[data-message-id="${id}"]`)!;
  return { container, handlers, setList, renderBody, article };
}

const byText = (root: Element, text: string) =>
  [...root.querySelectorAll<HTMLElement>("button, p")].find((el) => el.textContent?.trim() === text);

describe("Timeline", () => {
  test("renders bodies through renderBody, with author, time and an accessible name", () => {
    const a = msg("bob", at(0), { body: "<b>hi</b>" });
    const { article, renderBody } = mount([a]);
    const el = article(a.messageId);
    expect(el.getAttribute("role") ?? el.tagName.toLowerCase()).toBe("article");
    expect(el.getAttribute("aria-label")).toMatch(/^BOB, /);
    expect(renderBody).toHaveBeenCalledWith("<b>hi</b>");
    expect(el.querySelector(".tl-body")!.innerHTML).toBe("<p>&lt;b&gt;hi&lt;/b&gt;</p>");
    expect(el.querySelector(".tl-author")!.textContent).toBe("BOB");
  });

  test("a deleted message keeps its place as a placeholder", () => {
    const list = [msg("bob", at(0)), msg("bob", at(1), { deleted: true, body: "" }), msg("carol", at(2))];
    const { container, article } = mount(list);
    const ids = [...container.querySelectorAll("[data-message-id]")].map((el) => el.getAttribute("data-message-id"));
    expect(ids).toEqual(list.map((m) => m.messageId));
    const deleted = article(list[1]!.messageId);
    expect(deleted.textContent).toContain("This message was deleted");
    expect(deleted.querySelector(".tl-body")).toBeNull();
  });

  test("pending messages say Sending…; failed ones offer Retry, which calls onRetry with the client id", () => {
    const pending = msg("alice", at(0), { pending: true, clientId: "c1", seq: 0 });
    const failed = msg("alice", at(1), { failed: true, clientId: "c2", seq: 0 });
    const { article, handlers } = mount([pending, failed]);
    expect(article(pending.messageId).textContent).toContain("Sending…");
    expect(article(pending.messageId).classList.contains("tl-pending")).toBe(true);
    const f = article(failed.messageId);
    expect(f.textContent).toContain("Not sent — Retry");
    byText(f, "Retry")!.click();
    expect(handlers.onRetry).toHaveBeenCalledWith("c2");
  });

  test("reactions show a pressed state for the user's own and toggle on click", () => {
    const m = msg("bob", at(0), {
      reactions: [
        { emoji: "👍", count: 2, userIds: ["bob", "alice"], seqs: [10, 11] },
        { emoji: "🎉", count: 1, userIds: ["bob"], seqs: [12] },
      ],
    });
    const { article, handlers } = mount([m]);
    const [thumbs, party] = [...article(m.messageId).querySelectorAll<HTMLButtonElement>(".tl-reaction")];
    expect(thumbs!.getAttribute("aria-pressed")).toBe("true");
    expect(party!.getAttribute("aria-pressed")).toBe("false");
    expect(thumbs!.textContent).toBe("👍2");
    thumbs!.click();
    expect(handlers.onUnreact).toHaveBeenCalledWith(m.messageId, "👍");
    party!.click();
    expect(handlers.onReact).toHaveBeenCalledWith(m.messageId, "🎉");
  });

  test("edited marker, reply count and the actions toolbar call their handlers", () => {
    const mine = msg("alice", at(0), { editedAt: at(1), replyCount: 3 });
    const theirs = msg("bob", at(10));
    const { article, handlers } = mount([mine, theirs], { canModerate: true });
    const el = article(mine.messageId);
    byText(el, "(edited)")!.click();
    expect(handlers.onShowHistory).toHaveBeenCalledWith(mine.messageId);
    byText(el, "3 replies")!.click();
    expect(handlers.onReply).toHaveBeenCalledWith(mine.messageId);

    // Enter on a message opens its toolbar: edit and delete for one's own...
    el.focus();
    el.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    el.querySelector<HTMLElement>('[aria-label="Edit message"]')!.click();
    expect(handlers.onEdit).toHaveBeenCalledWith(mine.messageId);
    el.querySelector<HTMLElement>('[aria-label="Add reaction"]')!.click();
    el.querySelector<HTMLElement>('[aria-label="React with 🎉"]')!.click();
    expect(handlers.onReact).toHaveBeenCalledWith(mine.messageId, "🎉");

    // ...delete only (as a moderator) for someone else's.
    const other = article(theirs.messageId);
    other.dispatchEvent(new FocusEvent("focusin", { bubbles: true }));
    expect(other.querySelector('[aria-label="Edit message"]')).toBeNull();
    other.querySelector<HTMLElement>('[aria-label="Delete message"]')!.click();
    expect(handlers.onDelete).toHaveBeenCalledWith(theirs.messageId);
    other.querySelector<HTMLElement>('[aria-label="Seen by"]')!.click();
    expect(handlers.onShowReadBy).toHaveBeenCalledWith(theirs.messageId);
  });

  test("no delete on others' messages without moderation rights", () => {
    const theirs = msg("bob", at(0));
    const { article } = mount([theirs]);
    const el = article(theirs.messageId);
    el.dispatchEvent(new FocusEvent("focusin", { bubbles: true }));
    expect(el.querySelector('[aria-label="Reply in thread"]')).not.toBeNull();
    expect(el.querySelector('[aria-label="Delete message"]')).toBeNull();
  });

  test("day dividers and the unread separator render before their messages", () => {
    const list = [msg("bob", at(0, 26)), msg("bob", at(0)), msg("carol", at(1))];
    const { container } = mount(list, { lastReadSeq: list[1]!.seq });
    const rows = [...container.querySelectorAll(".tl-row")];
    expect(rows.map((r) => r.querySelectorAll(".tl-day").length)).toEqual([1, 1, 0]);
    expect(rows.map((r) => r.querySelectorAll(".tl-unread").length)).toEqual([0, 0, 1]);
  });

  test("reports the newest confirmed message once it is on screen", async () => {
    const list = [
      msg("bob", at(0)),
      msg("carol", at(1)),
      msg("alice", at(2), { pending: true, clientId: "c9", seq: 0 }),
    ];
    const { handlers, setList } = mount(list);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    expect(handlers.onVisibleLatest).toHaveBeenLastCalledWith(list[1]!.seq);
    const next = msg("bob", at(3));
    setList([...list.slice(0, 2), next, list[2]!]);
    expect(handlers.onVisibleLatest).toHaveBeenLastCalledWith(next.seq);
  });

  test("arrow keys move focus between messages", () => {
    const list = [msg("bob", at(0)), msg("carol", at(10)), msg("bob", at(20))];
    const { article } = mount(list);
    const last = article(list[2]!.messageId);
    expect(last.tabIndex).toBe(0); // the roving tab stop starts on the newest message
    last.focus();
    last.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowUp", bubbles: true }));
    expect(document.activeElement).toBe(article(list[1]!.messageId));
    article(list[1]!.messageId).dispatchEvent(new KeyboardEvent("keydown", { key: "Home", bubbles: true }));
    expect(document.activeElement).toBe(article(list[0]!.messageId));
  });

  test("10,000 messages render a bounded window", () => {
    const list = Array.from({ length: 10_000 }, (_, i) =>
      msg(i % 3 === 0 ? "bob" : "carol", new Date(Date.UTC(2026, 9, 1) + i * 7 * 60_000).toISOString()),
    );
    const { container, setList } = mount(list);
    const count = () => container.querySelectorAll("[data-message-id]").length;
    expect(count()).toBeGreaterThan(0);
    expect(count()).toBeLessThan(100);
    setList([...list, msg("bob", at(0, 28))]);
    expect(count()).toBeLessThan(100);
  });
});
