import { createMemo, createSignal, type Accessor } from "solid-js";
import { messageKey, type TimelineMessage } from "../timelineRows.ts";
import type { Rows, TimelineVirtualizer } from "./useVirtualTimeline.ts";

/**
 * The timeline's roving tab stop: one message (the newest until another is focused) takes the
 * tab stop; arrows, Home and End move focus between messages, scrolling the next one into view
 * first when it is not rendered. Without its active message in the DOM the list itself takes
 * the tab stop, and arrows enter the list at the edges of the view.
 */
export function useRovingFocus(
  props: { readonly messages: readonly TimelineMessage[] },
  deps: {
    scroller: () => HTMLDivElement;
    virtualizer: TimelineVirtualizer;
    rows: Accessor<Rows>;
    stopSettling: () => void;
  },
) {
  const { virtualizer, rows } = deps;
  const [activeKey, setActiveKey] = createSignal<string | null>(null);

  const isActive = (m: TimelineMessage, index: number) => {
    const key = activeKey();
    return key === null ? index === props.messages.length - 1 : messageKey(m) === key;
  };
  const activeIsRendered = createMemo(() => rows().list.some((m) => isActive(m, rows().at.get(m)!)));

  /** Moves keyboard focus to message `index`, scrolling it into view first when it is not rendered. */
  function focusIndex(index: number): void {
    const m = props.messages[index];
    if (m === undefined) return;
    const key = messageKey(m);
    setActiveKey(key);
    deps.stopSettling();
    virtualizer.scrollToIndex(index, { align: "auto" });
    let tries = 0;
    const attempt = () => {
      const el = deps.scroller().querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"] > .tl-msg`);
      if (el !== null) el.focus({ preventScroll: true });
      else if (++tries < 10) requestAnimationFrame(attempt);
    };
    attempt();
  }

  return {
    setActiveKey,
    isActive,
    /** The list's own tabIndex: in the tab order only while its active message is not rendered. */
    listTabIndex: () => (activeIsRendered() ? -1 : 0),
    onKeyDown(e: KeyboardEvent): void {
      const target = e.target as HTMLElement;
      const count = props.messages.length;
      if (count === 0) return;
      if (target === deps.scroller()) {
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
    },
    onFocusIn(e: FocusEvent): void {
      const row = (e.target as HTMLElement).closest<HTMLElement>(".tl-row");
      if (row?.dataset.key !== undefined) setActiveKey(row.dataset.key);
    },
  };
}
