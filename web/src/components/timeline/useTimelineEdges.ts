import { createEffect, createMemo, createSignal, on, onCleanup, onMount, untrack, type Accessor } from "solid-js";
import { isUnconfirmed, latestSeq, newerThan, type TimelineMessage } from "../timelineRows.ts";
import { BOTTOM_SLACK_PX, type Rows, type TimelineVirtualizer } from "./useVirtualTimeline.ts";

/** Rows from the top at which the previous page is asked for. */
const LOAD_OLDER_ROWS = 3;

/**
 * The timeline's edges: whether the view is at the bottom (and how many new messages are below),
 * the newest message reported once it is on screen, and the previous page loaded once the top is
 * near. Checked on every change of the virtualizer (`check`), when the rows or the paging change,
 * and when the page comes back into view.
 */
export function useTimelineEdges(
  props: {
    readonly messages: readonly TimelineMessage[];
    readonly me: string;
    readonly hasOlder: boolean;
    loadOlder(): Promise<void>;
    onVisibleLatest(seq: number): void;
  },
  deps: {
    virtualizer: TimelineVirtualizer;
    rows: Accessor<Rows>;
    /** Called first in every check (the prepend anchor puts the text being read back). */
    beforeCheck: () => void;
    /** Called when a page of older messages is about to be asked for. */
    onLoadOlder: () => void;
  },
) {
  const { virtualizer } = deps;
  const [atBottom, setAtBottom] = createSignal(true);
  const [seenSeq, setSeenSeq] = createSignal(0);
  const [loadingOlder, setLoadingOlder] = createSignal(false);
  const [ready, setReady] = createSignal(false);

  function check(): void {
    deps.beforeCheck();
    const range = virtualizer.range;
    const count = props.messages.length;
    setAtBottom(count === 0 || virtualizer.isAtEnd(BOTTOM_SLACK_PX));
    if (range === null || count === 0) return;
    const last = props.messages[range.endIndex];
    const latest = latestSeq(props.messages);
    // Seen means on screen: not while the page is hidden (checked again when it shows).
    const shown = document.visibilityState !== "hidden";
    if (
      shown &&
      last !== undefined &&
      latest > 0 &&
      (isUnconfirmed(last) || last.seq >= latest) &&
      latest > seenSeq()
    ) {
      setSeenSeq(latest);
      props.onVisibleLatest(latest);
    }
    if (ready() && range.startIndex < LOAD_OLDER_ROWS && props.hasOlder && !loadingOlder()) {
      setLoadingOlder(true);
      deps.onLoadOlder();
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
        check();
      }),
    );
  });

  // Edges move without a scroll too: a page that did not fill the pane, a new message in view,
  // the page coming back into view.
  createEffect(on([deps.rows, () => props.hasOlder, loadingOlder], () => untrack(check), { defer: true }));
  const onVisibility = () => check();
  document.addEventListener("visibilitychange", onVisibility);
  onCleanup(() => document.removeEventListener("visibilitychange", onVisibility));

  return {
    check,
    atBottom,
    loadingOlder,
    /** Messages of others below the newest one seen. */
    newBelow: createMemo(() => newerThan(props.messages, seenSeq(), props.me)),
  };
}
