/**
 * A room's timeline: only the rows in view (and a few beyond) are in the DOM, measured as they
 * render (@tanstack/solid-virtual). It stays at the bottom while new messages arrive there, keeps
 * the text being read in place when older pages are prepended, and loads older pages at the top.
 *
 * @example
 * <Timeline messages={timeline.messages} me={session.userId} nameOf={names.of} lastReadSeq={marker}
 *   hasOlder={timeline.hasOlder} loadOlder={() => timeline.loadOlder()} canModerate={isMod()}
 *   renderBody={renderMarkdown} onReact={react} … onVisibleLatest={(seq) => markRead(seq)} />
 */
import { createVirtualizer, measureElement, type Virtualizer } from "@tanstack/solid-virtual";
import { For, Show, createEffect, createMemo, createSignal, on, onCleanup, onMount, untrack } from "solid-js";
import { createAnnouncer } from "../announcer.ts";
import "../timeline.css";
import { MessageItem, type MessageActions } from "./MessageItem.tsx";
import {
  dayLabel,
  isUnconfirmed,
  latestSeq,
  messageKey,
  newerThan,
  rowDecor,
  sameDecor,
  unreadIndex,
  GROUP_WINDOW_MS,
  type TimelineMessage,
} from "./timelineRows.ts";

export type { TimelineMessage } from "./timelineRows.ts";

export type TimelineProps = MessageActions & {
  /** The loaded messages, oldest first (confirmed by seq, then the user's unconfirmed sends). */
  messages: readonly TimelineMessage[];
  /** The user's read marker: the unread separator goes before the first later message from others. Pass the marker as it was when the room was opened to keep the separator while reading. */
  lastReadSeq: number;
  /** Whether older messages than the first one exist. */
  hasOlder: boolean;
  /** Prepends the previous page; called when the top is reached and `hasOlder`. */
  loadOlder(): Promise<void>;
  /** A message id to scroll to and highlight (a search hit, a link); again on every change. */
  jumpTo?: string;
  /** Called with the newest message's seq whenever it is on screen (for the read marker). */
  onVisibleLatest(seq: number): void;
};

/** Space above the first row for the "loading older" / "start of the room" line. */
const HEAD_PX = 40;
/** How close to the end still counts as "at the bottom" (follows new messages). */
const BOTTOM_SLACK_PX = 48;
/** Rows from the top at which the previous page is asked for. */
const LOAD_OLDER_ROWS = 3;
const HIGHLIGHT_MS = 2500;
/** How long after a prepend the text being read is put back after each measurement. */
const SETTLE_MS = 300;
/** Estimated heights of a row with its author line and of a grouped one, before they are measured. */
const ROW_PX = 60;
const GROUPED_ROW_PX = 28;

/** The longest message text an announcement reads out. */
const SPOKEN_CHARS = 160;

/** The text of a rendered (sanitized) body, in one line, shortened for an announcement. */
function spokenText(html: string): string {
  // A parsed document is inert: nothing in it loads or runs.
  const text = (new DOMParser().parseFromString(html, "text/html").body.textContent ?? "").replace(/\s+/g, " ").trim();
  return text.length > SPOKEN_CHARS ? `${text.slice(0, SPOKEN_CHARS)}…` : text;
}

/** The timeline of one room; see TimelineProps. */
export function Timeline(props: TimelineProps) {
  let scroller!: HTMLDivElement;
  const [atBottom, setAtBottom] = createSignal(true);
  const [seenSeq, setSeenSeq] = createSignal(0);
  const [loadingOlder, setLoadingOlder] = createSignal(false);
  const [ready, setReady] = createSignal(false);
  const [activeKey, setActiveKey] = createSignal<string | null>(null);
  const [openKey, setOpenKey] = createSignal<string | null>(null);
  const [highlightKey, setHighlightKey] = createSignal<string | null>(null);
  const [announcement, announce] = createAnnouncer();
  // While a page of older messages loads: the first message at loading time, the text being read,
  // and until when it is put back after the prepend (see "Prepends" below).
  let loadingFirst: TimelineMessage | undefined;
  let reading: { key: string; top: number } | null = null;
  let settleUntil = 0;

  const unreadAt = createMemo(() => unreadIndex(props.messages, props.lastReadSeq, props.me));

  // Estimates only place rows not yet measured. They are asked for every row whenever the layout is
  // rebuilt, so each is computed once per message (author and gap only: no day arithmetic), and
  // reading the store here must not subscribe the virtualizer's computation to every message.
  const estimates = new WeakMap<TimelineMessage, number>();
  const estimate = (i: number) =>
    untrack(() => {
      const m = props.messages[i];
      if (m === undefined) return ROW_PX;
      let size = estimates.get(m);
      if (size === undefined) {
        const prev = props.messages[i - 1];
        const gap = prev === undefined ? Infinity : Date.parse(m.postedAt) - Date.parse(prev.postedAt);
        size = prev?.authorId === m.authorId && gap >= 0 && gap < GROUP_WINDOW_MS ? GROUPED_ROW_PX : ROW_PX;
        estimates.set(m, size);
      }
      return size;
    });

  const virtualizer: Virtualizer<HTMLDivElement, HTMLElement> = createVirtualizer<HTMLDivElement, HTMLElement>({
    get count() {
      return props.messages.length;
    },
    getScrollElement: () => scroller ?? null,
    estimateSize: estimate,
    getItemKey: (i) => untrack(() => messageKey(props.messages[i]!)),
    overscan: 4,
    paddingStart: HEAD_PX,
    paddingEnd: 12,
    // Keep the row being read in place when rows are prepended; follow appends when at the end.
    anchorTo: "end",
    followOnAppend: true,
    scrollEndThreshold: BOTTOM_SLACK_PX,
    // Without layout (a hidden pane, a DOM without layout) a row measures 0: keep its estimate.
    measureElement: (el, entry, instance) => {
      const size = measureElement(el, entry, instance);
      return size > 0 ? size : estimate(instance.indexFromElement(el));
    },
    onChange: () => untrack(checkEdges),
  });

  /**
   * The rows in view: the messages themselves (so a row keeps its DOM while indexes shift), their
   * indexes and offsets. Until the virtualizer has taken a new message count its rows index the old
   * list: the previous rows stay for that moment rather than the wrong messages (which would drop
   * and re-create the rows kept). The total size changes with the count, so reading it brings this
   * back once the virtualizer has the new count.
   */
  const rows = createMemo<{ list: TimelineMessage[]; at: Map<TimelineMessage, number>; start: Map<TimelineMessage, number> }>(
    (previous) => {
      const items = virtualizer.getVirtualItems();
      virtualizer.getTotalSize();
      if (virtualizer.options.count !== props.messages.length) return previous;
      const list: TimelineMessage[] = [];
      const at = new Map<TimelineMessage, number>();
      const start = new Map<TimelineMessage, number>();
      for (const item of items) {
        const m = props.messages[item.index];
        if (m === undefined) continue;
        list.push(m);
        at.set(m, item.index);
        start.set(m, item.start);
      }
      return { list, at, start };
    },
    { list: [], at: new Map(), start: new Map() },
  );

  function checkEdges(): void {
    if (settleUntil > 0) restoreReading();
    else if (loadingOlder()) noteReading();
    const range = virtualizer.range;
    const count = props.messages.length;
    setAtBottom(count === 0 || virtualizer.isAtEnd(BOTTOM_SLACK_PX));
    if (range === null || count === 0) return;
    const last = props.messages[range.endIndex];
    const latest = latestSeq(props.messages);
    // Seen means on screen: not while the page is hidden (checked again when it shows).
    const shown = document.visibilityState !== "hidden";
    if (shown && last !== undefined && latest > 0 && (isUnconfirmed(last) || last.seq >= latest) && latest > seenSeq()) {
      setSeenSeq(latest);
      props.onVisibleLatest(latest);
    }
    if (ready() && range.startIndex < LOAD_OLDER_ROWS && props.hasOlder && !loadingOlder()) {
      setLoadingOlder(true);
      stopSettling();
      loadingFirst = props.messages[0];
      noteReading();
      // Not inside the virtualizer's notification: the page prepends on its own time.
      queueMicrotask(() => {
        props
          .loadOlder()
          .catch(() => undefined)
          .finally(() => setLoadingOlder(false));
      });
    }
  }

  onMount(() => {
    virtualizer.scrollToEnd();
    // Two frames: the first rows are measured and the end reached before a top row may ask for more.
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        setReady(true);
        checkEdges();
      }),
    );
  });

  // Edges move without a scroll too: a page that did not fill the pane, a new message in view,
  // the page coming back into view.
  createEffect(on([rows, () => props.hasOlder, loadingOlder], () => untrack(checkEdges), { defer: true }));
  const onVisibility = () => checkEdges();
  document.addEventListener("visibilitychange", onVisibility);
  onCleanup(() => document.removeEventListener("visibilitychange", onVisibility));

  // Prepends. The virtualizer keeps the row at the top of the view in place (anchorTo "end"), but
  // not to the pixel: its write can land before the taller sizer is rendered (and be clamped), rows
  // in view may not be measured yet, and the first row's divider or author line can go away once
  // older messages are above it. So while a page loads, the text being read is noted (the first
  // message in view and where its body is); after the prepend, and after each measurement of the
  // following frames (before they are painted), the scroll position is corrected to put it back.
  // The user's own wheel, touch, pointer or key ends the correction, and so does the message
  // leaving the view.
  const textTop = (key: string): number | undefined => {
    const article = scroller.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"] > .tl-msg`);
    return (article?.querySelector(".tl-body, .tl-placeholder") ?? article)?.getBoundingClientRect().top;
  };
  function noteReading(): void {
    if (settleUntil > 0 || props.messages[0] !== loadingFirst) return;
    const viewTop = scroller.getBoundingClientRect().top;
    for (const row of scroller.querySelectorAll<HTMLElement>(".tl-row")) {
      const bottom = row.getBoundingClientRect().bottom;
      const key = row.dataset["key"];
      const top = key === undefined || bottom <= viewTop + 1 ? undefined : textTop(key);
      if (key !== undefined && top !== undefined) {
        reading = { key, top };
        return;
      }
    }
  }
  function stopSettling(): void {
    settleUntil = 0;
    reading = null;
  }
  function restoreReading(): void {
    const top = reading === null || performance.now() > settleUntil ? undefined : textTop(reading.key);
    // Over, or the message is gone from the view (scrolled away by other means).
    if (reading === null || top === undefined) return stopSettling();
    if (Math.abs(top - reading.top) >= 0.5) scroller.scrollTop += top - reading.top;
  }
  createEffect(
    on(
      () => props.messages[0],
      (first, previousFirst) => {
        if (previousFirst === undefined || first === previousFirst || reading === null) return;
        settleUntil = performance.now() + SETTLE_MS;
        restoreReading();
      },
    ),
  );

  // A new last message: the user's own send brings the view down; someone else's is announced.
  createEffect(
    on(
      () => {
        const last = props.messages[props.messages.length - 1];
        return last === undefined ? null : messageKey(last);
      },
      (key, prevKey) => {
        if (key === null || prevKey === undefined || prevKey === null) return;
        const last = props.messages[props.messages.length - 1]!;
        if (last.authorId === props.me) {
          if (last.pending === true) virtualizer.scrollToEnd();
        } else if (!isUnconfirmed(last)) {
          const who = `New message from ${props.nameOf(last.authorId)}`;
          announce(last.deleted ? who : `${who}: ${spokenText(props.renderBody(last.body))}`);
        }
      },
    ),
  );

  // Jump to a message: scroll it to the middle and highlight it (again whenever jumpTo changes,
  // and once it is loaded when it was not yet).
  let jumped: string | undefined;
  let highlightTimer: ReturnType<typeof setTimeout> | undefined;
  createEffect(() => {
    const id = props.jumpTo;
    if (id === undefined) {
      jumped = undefined;
      return;
    }
    if (id === jumped) return;
    const index = props.messages.findIndex((m) => m.messageId === id);
    if (index < 0) return;
    jumped = id;
    stopSettling();
    untrack(() => {
      virtualizer.scrollToIndex(index, { align: "center" });
      const key = messageKey(props.messages[index]!);
      setHighlightKey(key);
      setActiveKey(key);
      clearTimeout(highlightTimer);
      highlightTimer = setTimeout(() => setHighlightKey(null), HIGHLIGHT_MS);
    });
  });
  onCleanup(() => clearTimeout(highlightTimer));

  const newBelow = createMemo(() => newerThan(props.messages, seenSeq(), props.me));
  const isActive = (m: TimelineMessage, index: number) => {
    const key = activeKey();
    return key === null ? index === props.messages.length - 1 : messageKey(m) === key;
  };
  // Without its active message in the DOM the list itself takes the tab stop.
  const activeIsRendered = createMemo(() => rows().list.some((m) => isActive(m, rows().at.get(m)!)));

  /** Moves keyboard focus to message `index`, scrolling it into view first when it is not rendered. */
  function focusIndex(index: number): void {
    const m = props.messages[index];
    if (m === undefined) return;
    const key = messageKey(m);
    setActiveKey(key);
    stopSettling();
    virtualizer.scrollToIndex(index, { align: "auto" });
    let tries = 0;
    const attempt = () => {
      const el = scroller.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"] > .tl-msg`);
      if (el !== null) el.focus({ preventScroll: true });
      else if (++tries < 10) requestAnimationFrame(attempt);
    };
    attempt();
  }

  const onKeyDown = (e: KeyboardEvent) => {
    const target = e.target as HTMLElement;
    const count = props.messages.length;
    if (count === 0) return;
    if (target === scroller) {
      // The list itself has focus (its active message scrolled away): arrows enter it at the edges of the view.
      const list = rows().list;
      const edge = e.key === "ArrowUp" ? list[list.length - 1] : list[0];
      if ((e.key === "ArrowUp" || e.key === "ArrowDown") && edge !== undefined) {
        e.preventDefault();
        focusIndex(rows().at.get(edge)!);
      }
      return;
    }
    if (!target.classList.contains("tl-msg")) return;
    const from = Number(target.parentElement?.dataset.index ?? -1);
    if (from < 0) return;
    const to = { ArrowUp: from - 1, ArrowDown: from + 1, Home: 0, End: count - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    focusIndex(Math.max(0, Math.min(count - 1, to)));
  };

  const onFocusIn = (e: FocusEvent) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>(".tl-row");
    if (row?.dataset.key !== undefined) setActiveKey(row.dataset.key);
  };

  return (
    <section class="timeline" aria-label="Timeline">
      <div
        ref={scroller}
        class="tl-scroll"
        tabIndex={activeIsRendered() ? -1 : 0}
        onKeyDown={(e) => {
          stopSettling();
          onKeyDown(e);
        }}
        onWheel={stopSettling}
        onTouchStart={stopSettling}
        onPointerDown={stopSettling}
        onFocusIn={onFocusIn}
      >
        <div class="tl-sizer" style={{ height: `${virtualizer.getTotalSize()}px` }}>
          <div class="tl-head-line" aria-live="polite">
            <Show when={loadingOlder()} fallback={<Show when={!props.hasOlder && props.messages.length > 0}>This is the start of the room.</Show>}>
              Loading older messages…
            </Show>
          </div>
          <div class="tl-feed" role="feed" aria-label="Messages" aria-busy={loadingOlder()}>
            <For each={rows().list}>
              {(m) => {
                // Memos: the rows move on every scroll, a row's index and decorations rarely.
                const index = createMemo(() => rows().at.get(m) ?? 0);
                // Each row at its own offset: a row above that is not measured yet cannot push it.
                const top = createMemo(() => rows().start.get(m) ?? 0);
                const decor = createMemo(() => rowDecor(props.messages, index(), unreadAt()), undefined, { equals: sameDecor });
                const key = messageKey(m);
                // Observed before it is in the document: the virtualizer's ResizeObserver then measures
                // the new rows together, once laid out, instead of forcing a layout per row.
                const observe = (el: HTMLDivElement) => {
                  el.dataset["index"] = String(index());
                  virtualizer.measureElement(el);
                };
                return (
                  <div
                    ref={observe}
                    class="tl-row"
                    data-index={index()}
                    data-key={key}
                    style={{ transform: `translateY(${top()}px)` }}
                  >
                    <Show when={decor().day}>
                      {(day) => (
                        <div class="tl-divider tl-day" role="separator">
                          <span>{dayLabel(day())}</span>
                        </div>
                      )}
                    </Show>
                    <Show when={decor().unread}>
                      <div class="tl-divider tl-unread" role="separator" aria-label="New messages">
                        <span>New</span>
                      </div>
                    </Show>
                    <MessageItem
                      message={m}
                      actions={props}
                      grouped={decor().grouped}
                      position={index() + 1}
                      total={props.hasOlder ? -1 : props.messages.length}
                      active={isActive(m, index())}
                      highlighted={highlightKey() === key}
                      actionsOpen={openKey() === key}
                      setActionsOpen={(open) => setOpenKey(open ? key : null)}
                    />
                  </div>
                );
              }}
            </For>
          </div>
        </div>
      </div>
      <Show when={!atBottom() && props.messages.length > 0}>
        <button
          type="button"
          class="tl-jump"
          aria-label={newBelow() > 0 ? `Jump to latest, ${newBelow()} new` : "Jump to latest"}
          onClick={() => virtualizer.scrollToEnd()}
        >
          Jump to latest
          <Show when={newBelow() > 0}>
            <span class="tl-jump-count">{newBelow()} new</span>
          </Show>
        </button>
      </Show>
      <div class="tl-sr-only" aria-live="polite">
        {announcement()}
      </div>
    </section>
  );
}
