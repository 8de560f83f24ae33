import { createSignal } from "solid-js";
import { render } from "solid-js/web";
import { afterEach, describe, expect, test, vi } from "vitest";
import type { Chat, PostBlock } from "../stores/chat.ts";
import { ChatContext } from "../stores/chat.ts";
import type { TimelineMessage } from "../stores/timeline.ts";
import { messageFixture } from "../stores/fixtures.ts";
import { createUi } from "../stores/ui.ts";
import { createUsers } from "../stores/users.ts";
import { Composer, mentionQuery } from "./Composer.tsx";

const msg = (id: string, authorId: string, body: string): TimelineMessage =>
  messageFixture(1, { messageId: id, authorId, body });

let dispose: (() => void) | undefined;
// Drafts are kept per room for the page's life: each test writes in a room of its own.
let rooms = 0;
afterEach(() => {
  dispose?.();
  document.body.innerHTML = "";
});

function setup(opts: { block?: PostBlock; maxBody?: number } = {}) {
  const users = createUsers({ me: "me", myName: "alice" });
  users.learn([
    { userId: "b", role: "member", joinedSeq: 1, displayName: "bob" },
    { userId: "c", role: "member", joinedSeq: 1, displayName: "Bo Diddley" },
  ]);
  const [block, setBlock] = createSignal<PostBlock>(opts.block ?? null);
  const chat = {
    me: "me",
    config: { maxBody: opts.maxBody ?? 8000 },
    users,
    postBlock: () => block(),
    typing: { typed: vi.fn(), stopped: vi.fn() },
    join: vi.fn(async () => undefined),
    edit: vi.fn(async () => ({ result: {}, seq: 2 })),
  } as unknown as Chat;
  const send = vi.fn();
  const ui = createUi();
  const roomId = `r${++rooms}`;
  const root = document.createElement("div");
  document.body.append(root);
  const messages = [
    msg("m1", "me", "first"),
    msg("m2", "b", "theirs"),
    msg("m3", "me", "last of mine"),
    msg("m4", "b", "after"),
  ];
  dispose = render(
    () => (
      <ChatContext.Provider value={chat}>
        <Composer
          roomId={roomId}
          where="room"
          label="Message #r"
          placeholder="Message"
          send={send}
          members={["me", "b", "c"]}
          messages={messages}
          ui={ui}
        />
      </ChatContext.Provider>
    ),
    root,
  );
  const box = root.querySelector<HTMLTextAreaElement>('[data-testid="composer-input"]')!;
  const type = (text: string): void => {
    box.value = text;
    box.selectionStart = box.selectionEnd = text.length;
    box.dispatchEvent(new InputEvent("input", { bubbles: true }));
  };
  const key = (k: string, extra: KeyboardEventInit = {}) =>
    box.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...extra }));
  return { root, box, type, key, send, chat, ui, setBlock, roomId };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("composer", () => {
  test("mentionQuery finds the @handle before the caret", () => {
    expect(mentionQuery("hi @al", 6)).toEqual({ start: 3, query: "al" });
    expect(mentionQuery("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionQuery("mail a@b", 8)).toBeNull();
    expect(mentionQuery("hi @al there", 12)).toBeNull();
  });

  test("Enter sends with the mentioned members, Shift+Enter does not; the user is said to be typing", () => {
    const { box, type, key, send, chat, roomId } = setup();
    type("hello @bob and @nobody");
    expect(chat.typing.typed).toHaveBeenCalledWith(roomId);
    key("Enter", { shiftKey: true });
    expect(send).not.toHaveBeenCalled();
    key("Enter");
    expect(send).toHaveBeenCalledWith("hello @bob and @nobody", ["b"]);
    expect(box.value).toBe("");
    key("Enter");
    expect(send).toHaveBeenCalledTimes(1);
  });

  test("@ completion over the room's members: arrows choose, Enter inserts the handle", async () => {
    const { root, box, type, key, send } = setup();
    type("hi @bo");
    const options = () => [...root.querySelectorAll('[data-testid="mention-option"]')].map((o) => o.textContent);
    expect(options()).toEqual(["@bob", "@Bo_Diddley"].sort((a, b) => a.slice(1).localeCompare(b.slice(1))));
    expect(box.getAttribute("aria-activedescendant")).not.toBeNull();
    key("ArrowDown");
    const chosen = root.querySelector('[aria-selected="true"]')?.textContent;
    key("Enter");
    expect(send).not.toHaveBeenCalled();
    expect(box.value).toBe(`hi ${chosen} `);
    await tick();
    expect(options()).toEqual([]);
  });

  test("Up in an empty composer edits the user's last message; Enter saves the edit; Escape cancels", async () => {
    const { root, box, key, chat, type, roomId } = setup();
    key("ArrowUp");
    await tick();
    expect(box.value).toBe("last of mine");
    expect(root.querySelector('[data-testid="composer-editing"]')).not.toBeNull();
    type("last of mine, edited");
    key("Enter");
    expect(chat.edit).toHaveBeenCalledWith(roomId, "m3", "last of mine, edited");
    expect(box.value).toBe("");
    key("ArrowUp");
    await tick();
    key("Escape");
    expect(box.value).toBe("");
    expect(root.querySelector('[data-testid="composer-editing"]')).toBeNull();
  });

  test("the counter appears before the limit; over it, sending is disabled", () => {
    const { root, type, key, send } = setup({ maxBody: 600 });
    const counter = () => root.querySelector('[data-testid="composer-counter"]')?.textContent ?? null;
    type("x".repeat(99));
    expect(counter()).toBeNull();
    type("x".repeat(100));
    expect(counter()).toBe("100 / 600 characters");
    type("x".repeat(601));
    expect(counter()).toContain("1 characters too long");
    expect(root.querySelector<HTMLButtonElement>('[data-testid="send-button"]')!.disabled).toBe(true);
    key("Enter");
    expect(send).not.toHaveBeenCalled();
  });

  test("where the user may not post it says why instead of a text box; Join for a public room", () => {
    const { root, setBlock, chat, roomId } = setup({ block: { reason: "Join to post", canJoin: true } });
    const box = () => root.querySelector<HTMLTextAreaElement>('[data-testid="composer-input"]');
    expect(box()).toBeNull();
    expect(root.querySelector('[data-testid="composer-blocked"]')?.textContent).toContain("Join to post");
    root.querySelector<HTMLButtonElement>('[data-testid="join-room"]')!.click();
    expect(chat.join).toHaveBeenCalledWith(roomId);
    setBlock({ reason: "You cannot post here", canJoin: false });
    expect(root.querySelector('[data-testid="join-room"]')).toBeNull();
    expect(root.querySelector('[data-testid="composer-blocked"]')?.textContent).toContain("You cannot post here");
    setBlock(null);
    expect(box()).not.toBeNull();
    expect(root.querySelector('[data-testid="composer-blocked"]')).toBeNull();
  });
});
