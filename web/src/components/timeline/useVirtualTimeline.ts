import { createVirtualizer, measureElement, type Virtualizer } from "@tanstack/solid-virtual";
import { createMemo, untrack, type Accessor } from "solid-js";
import { messageKey, GROUP_WINDOW_MS, type TimelineMessage } from "../timelineRows.ts";

/** Space above the first row for the "loading older" / "start of the room" line. */
const HEAD_PX = 40;
/** How close to the end still counts as "at the bottom" (follows new messages). */
export const BOTTOM_SLACK_PX = 48;
/** Estimated heights of a row with its author line and of a grouped one, before they are measured. */
const ROW_PX = 60;
const GROUPED_ROW_PX = 28;

/** The rows in view: their messages, and each one's index and offset. */
export type Rows = { list: TimelineMessage[]; at: Map<TimelineMessage, number>; start: Map<TimelineMessage, number> };

export type TimelineVirtualizer = Virtualizer<HTMLDivElement, HTMLElement>;

/**
 * The timeline's virtualizer (@tanstack/solid-virtual): only the rows in view (and a few beyond)
 * are rendered, measured as they render. `onChange` is called (untracked) whenever the range or
 * the sizes change.
 */
export function useVirtualTimeline(
  props: { readonly messages: readonly TimelineMessage[] },
  deps: { scroller: () => HTMLDivElement | undefined; onChange: () => void },
): { virtualizer: TimelineVirtualizer; rows: Accessor<Rows> } {
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

  const virtualizer: TimelineVirtualizer = createVirtualizer<HTMLDivElement, HTMLElement>({
    get count() {
      return props.messages.length;
    },
    getScrollElement: () => deps.scroller() ?? null,
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
    onChange: () => untrack(deps.onChange),
  });

  /**
   * The messages themselves are the rows (so a row keeps its DOM while indexes shift). Until the
   * virtualizer has taken a new message count its rows index the old list: the previous rows stay
   * for that moment rather than the wrong messages (which would drop and re-create the rows kept).
   * The total size changes with the count, so reading it brings this back once the virtualizer has
   * the new count.
   */
  const rows = createMemo<Rows>(
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

  return { virtualizer, rows };
}
