/**
 * The timeline bench page (`npm run bench -- web` builds and serves it): the real Timeline with
 * `?n=` generated messages (default 10,000) and a trivial escaper as renderBody. Marks
 * `bench-data` (messages generated) and `first-message` (the first message element in the DOM);
 * `window.bench` scrolls and counts for bench/web.ts. With `?page=P` the timeline starts with the
 * newest P messages and `loadOlder` prepends P more at a time (`bench.history()` scrolls back
 * through them all, measuring how far the text being read moves at each prepend).
 */
import { createSignal } from "solid-js";
import { render } from "solid-js/web";
import { Timeline } from "../../web/src/components/Timeline.tsx";

const params = new URLSearchParams(location.search);
const n = Number(params.get("n") ?? 10_000);
const pageSize = Number(params.get("page") ?? 0);

// Deterministic: the same room every load.
let state = 0x2545f491;
const rand = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(rand() * list.length)];
const WORDS =
  "the a release deploy review branch tests green flaky retry queue stream consumer lag index schema migration rollback cache hit miss latency p99 budget alert pager on-call coffee lunch tomorrow today friday ship it looks good to me please take a look when you have time".split(
    " ",
  );
const USERS = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const EMOJI = ["👍", "❤️", "😂", "🎉", "👀"];

const messages = [];
let t = Date.UTC(2026, 8, 1, 8, 0);
let author = "u1";
for (let i = 0; i < n; i++) {
  t += Math.floor(rand() * (rand() < 0.7 ? 4 : 90) * 60_000);
  if (rand() < 0.45) author = pick(USERS);
  const words = Array.from({ length: 2 + Math.floor(rand() * (rand() < 0.15 ? 90 : 18)) }, () => pick(WORDS));
  const deleted = rand() < 0.02;
  const reactions =
    rand() < 0.12
      ? EMOJI.slice(0, 1 + Math.floor(rand() * 3)).map((emoji, k) => ({
          emoji,
          count: 1 + k,
          userIds: USERS.slice(0, 1 + k),
          seqs: USERS.slice(0, 1 + k).map((_, j) => i * 10 + j),
        }))
      : [];
  messages.push({
    messageId: `m${String(i).padStart(6, "0")}`,
    roomId: "bench",
    seq: i + 1,
    authorId: author,
    body: deleted ? "" : words.join(" "),
    postedAt: new Date(t).toISOString(),
    editedAt: rand() < 0.05 ? new Date(t + 60_000).toISOString() : null,
    deleted,
    reactions: deleted ? [] : reactions,
    threadRootId: null,
    replyCount: rand() < 0.05 ? 1 + Math.floor(rand() * 12) : 0,
    lastReplyAt: null,
    updatedSeq: i + 1,
  });
}
performance.mark("bench-data");

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const root = document.getElementById("root");
const firstMessage = new MutationObserver(() => {
  if (root.querySelector("[data-message-id]") === null) return;
  performance.mark("first-message");
  firstMessage.disconnect();
  requestAnimationFrame(() => performance.mark("first-frame"));
});
firstMessage.observe(root, { childList: true, subtree: true });

const [list, setList] = createSignal(pageSize > 0 ? messages.slice(-pageSize) : messages);
const [hasOlder, setHasOlder] = createSignal(pageSize > 0 && pageSize < n);
const [jumpTo, setJumpTo] = createSignal(undefined);
const [seen, setSeen] = createSignal(0);
const drifts = [];
let loads = 0;

/** The text being read: the first message body at least partly in view, and where it is. */
function anchor() {
  const top = document.querySelector(".tl-scroll").getBoundingClientRect().top;
  for (const el of document.querySelectorAll(".tl-body, .tl-placeholder")) {
    const r = el.getBoundingClientRect();
    if (r.bottom > top + 1) return { id: el.closest("[data-message-id]").dataset.messageId, top: r.top };
  }
  return null;
}

function loadOlder() {
  return new Promise((resolve) => {
    setTimeout(() => {
      const current = list();
      const start = n - current.length;
      const from = Math.max(0, start - pageSize);
      const before = anchor();
      setList([...messages.slice(from, start), ...current]);
      setHasOlder(from > 0);
      // Where the text that was being read is in the first frame painted after the prepend (read
      // at the start of the next one) and five frames later, settled.
      const moved = () => {
        const el =
          before &&
          document.querySelector(`[data-message-id="${before.id}"]`)?.querySelector(".tl-body, .tl-placeholder");
        return el ? el.getBoundingClientRect().top - before.top : Number.NaN;
      };
      let frames = 0;
      let painted = Number.NaN;
      const tick = () => {
        frames++;
        if (frames === 2) painted = moved();
        if (frames < 7) return requestAnimationFrame(tick);
        drifts.push({ painted, settled: moved() });
        loads++;
        resolve();
      };
      requestAnimationFrame(tick);
    }, 10);
  });
}

let extra = 0;
/** A new message at the end, as a live event would add it. */
function append(authorId, pending = false) {
  extra++;
  const { pending: _p, clientId: _c, ...last } = list()[list().length - 1];
  const seq = last.seq + 1;
  setList([
    ...list(),
    {
      ...last,
      messageId: `new${extra}`,
      seq,
      updatedSeq: seq,
      authorId,
      body: `live message ${extra}`,
      postedAt: new Date(Date.parse(last.postedAt) + 60_000).toISOString(),
      reactions: [],
      deleted: false,
      editedAt: null,
      replyCount: 0,
      ...(pending ? { pending: true, clientId: `c${extra}` } : {}),
    },
  ]);
}

const noop = () => {};
render(
  () => (
    <Timeline
      messages={list()}
      me="u0"
      nameOf={(u) => `User ${u.slice(1)}`}
      lastReadSeq={n - 40}
      hasOlder={hasOlder()}
      loadOlder={loadOlder}
      jumpTo={jumpTo()}
      canModerate={false}
      renderBody={(body) => `<p>${escapeHtml(body)}</p>`}
      onReact={noop}
      onUnreact={noop}
      onReply={noop}
      onEdit={noop}
      onDelete={noop}
      onRetry={noop}
      onShowHistory={noop}
      onShowReadBy={noop}
      onVisibleLatest={setSeen}
    />
  ),
  root,
);

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
const nodes = () => document.querySelector(".timeline").getElementsByTagName("*").length + 1;
const scroller = () => document.querySelector(".tl-scroll");

window.bench = {
  /** Scrolls from the bottom to the top in `steps` jumps, two frames each; the node count after each. */
  async steps(steps) {
    const el = scroller();
    const counts = [];
    for (let i = 1; i <= steps; i++) {
      el.scrollTop = (el.scrollHeight - el.clientHeight) * (1 - i / steps);
      await frame();
      await frame();
      counts.push(nodes());
    }
    // The top really was reached: the first message is rendered.
    await frame();
    return { counts, reachedTop: el.querySelector('[data-index="0"]') !== null, scrollTop: el.scrollTop };
  },
  /** Scrolls by `px` every frame for `frames` frames (negative: up); the frame deltas and node counts. */
  async glide(px, frames) {
    const el = scroller();
    const deltas = [];
    const counts = [];
    let last = await new Promise((resolve) => requestAnimationFrame(resolve));
    for (let i = 0; i < frames; i++) {
      el.scrollTop += px;
      const now = await new Promise((resolve) => requestAnimationFrame(resolve));
      deltas.push(now - last);
      last = now;
      if (i % 10 === 0) counts.push(nodes());
    }
    return { deltas, counts, scrollTop: el.scrollTop, scrollHeight: el.scrollHeight };
  },
  async toBottom() {
    const el = scroller();
    for (let i = 0; i < 20 && el.scrollTop + el.clientHeight < el.scrollHeight - 2; i++) {
      el.scrollTop = el.scrollHeight;
      await frame();
    }
    await frame();
    return nodes();
  },
  nodes,
  /** Scrolls to the top until every page is loaded; how far (px) the text being read moved at each prepend. */
  async history() {
    const el = scroller();
    const t0 = performance.now();
    while (hasOlder() && performance.now() - t0 < 120_000) {
      const before = loads;
      el.scrollTop = 0;
      while (loads === before && performance.now() - t0 < 120_000) await frame();
      await frame();
      await frame();
    }
    return { loads, drifts, messages: list().length, maxNodes: nodes(), hasOlder: hasOlder() };
  },
  /** Behaviour at the bottom and away from it: following, the jump button, jumps, read reports. */
  async checks() {
    const el = scroller();
    const out = {};
    await this.toBottom();
    const lastSeen = seen();
    append("u3");
    await frame();
    await frame();
    await frame();
    const lastEl = document.querySelector(`[data-message-id="new${extra}"]`);
    const box = el.getBoundingClientRect();
    out.followsAtBottom = lastEl !== null && lastEl.getBoundingClientRect().bottom <= box.bottom + 1;
    out.reportsLatest = seen() > lastSeen && seen() === list()[list().length - 1].seq;
    el.scrollTop = el.scrollHeight / 2;
    await frame();
    await frame();
    const top = el.scrollTop;
    append("u4");
    append("u5");
    append("u0", true);
    await frame();
    await frame();
    out.ownSendBringsDown = el.scrollTop > top + 1000;
    el.scrollTop = el.scrollHeight / 2;
    await frame();
    await frame();
    const top2 = el.scrollTop;
    append("u6");
    await frame();
    await frame();
    out.staysWhenScrolledUp = Math.abs(el.scrollTop - top2) < 2;
    const button = document.querySelector(".tl-jump");
    out.jumpButtonCountsNew = button?.getAttribute("aria-label") === "Jump to latest, 1 new";
    button?.click();
    for (let i = 0; i < 10; i++) await frame();
    out.jumpButtonReachesEnd =
      el.scrollTop + el.clientHeight >= el.scrollHeight - 2 && document.querySelector(".tl-jump") === null;
    setJumpTo("m000123");
    for (let i = 0; i < 10; i++) await frame();
    const target = document.querySelector('[data-message-id="m000123"]');
    out.jumpToHighlights = target !== null && target.classList.contains("tl-highlight");
    out.jumpToInView =
      target !== null &&
      target.getBoundingClientRect().top >= box.top &&
      target.getBoundingClientRect().bottom <= box.bottom;
    target?.focus();
    target?.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    await frame();
    out.arrowDownMovesFocus = document.activeElement?.dataset?.messageId === "m000124";
    return out;
  },
};
