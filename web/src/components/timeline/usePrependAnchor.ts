import { createEffect, on, type Accessor } from "solid-js";
import type { TimelineMessage } from "../timelineRows.ts";

/** How long after a prepend the text being read is put back after each measurement. */
const SETTLE_MS = 300;

/**
 * Keeps the text being read in place when a page of older messages is prepended. The virtualizer
 * keeps the row at the top of the view in place (anchorTo "end"), but not to the pixel: its write
 * can land before the taller sizer is rendered (and be clamped), rows in view may not be measured
 * yet, and the first row's divider or author line can go away once older messages are above it.
 * So while a page loads, the text being read is noted (the first message in view and where its
 * body is); after the prepend, and after each measurement of the following frames (before they
 * are painted), the scroll position is corrected to put it back. The user's own wheel, touch,
 * pointer or key ends the correction (`stop`), and so does the message leaving the view.
 */
export function usePrependAnchor(
  props: { readonly messages: readonly TimelineMessage[] },
  deps: { scroller: () => HTMLDivElement; loadingOlder: Accessor<boolean> },
) {
  // While a page of older messages loads: the first message at loading time, the text being read,
  // and until when it is put back after the prepend.
  let loadingFirst: TimelineMessage | undefined;
  let reading: { key: string; top: number } | null = null;
  let settleUntil = 0;

  const textTop = (key: string): number | undefined => {
    const article = deps.scroller().querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"] > .tl-msg`);
    return (article?.querySelector(".tl-body, .tl-placeholder") ?? article)?.getBoundingClientRect().top;
  };
  function noteReading(): void {
    if (settleUntil > 0 || props.messages[0] !== loadingFirst) return;
    const scroller = deps.scroller();
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
  function stop(): void {
    settleUntil = 0;
    reading = null;
  }
  function restoreReading(): void {
    const top = reading === null || performance.now() > settleUntil ? undefined : textTop(reading.key);
    // Over, or the message is gone from the view (scrolled away by other means).
    if (reading === null || top === undefined) return stop();
    if (Math.abs(top - reading.top) >= 0.5) deps.scroller().scrollTop += top - reading.top;
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

  return {
    /** Ends the correction: the user moves the view themselves (or it is moved to a message). */
    stop,
    /** After each measurement: puts the text back while settling, notes it while a page loads. */
    follow(): void {
      if (settleUntil > 0) restoreReading();
      else if (deps.loadingOlder()) noteReading();
    },
    /** A page of older messages is about to be asked for: notes the text being read. */
    loadStarts(): void {
      stop();
      loadingFirst = props.messages[0];
      noteReading();
    },
  };
}
