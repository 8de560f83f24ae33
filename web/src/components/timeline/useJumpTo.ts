import { createEffect, createSignal, onCleanup, untrack, type Accessor } from "solid-js";
import { messageKey, type TimelineMessage } from "../timelineRows.ts";
import type { TimelineVirtualizer } from "./useVirtualTimeline.ts";

const HIGHLIGHT_MS = 2500;

/**
 * Jump to a message (`jumpTo`: a search hit, a link): scroll it to the middle, make it the active
 * message and highlight it for a while; again whenever `jumpTo` changes, and once it is loaded
 * when it was not yet. Answers the key of the message highlighted.
 */
export function useJumpTo(
  props: { readonly messages: readonly TimelineMessage[]; readonly jumpTo?: string },
  deps: { virtualizer: TimelineVirtualizer; stopSettling: () => void; setActiveKey: (key: string) => void },
): Accessor<string | null> {
  const [highlightKey, setHighlightKey] = createSignal<string | null>(null);
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
    deps.stopSettling();
    untrack(() => {
      deps.virtualizer.scrollToIndex(index, { align: "center" });
      const key = messageKey(props.messages[index]!);
      setHighlightKey(key);
      deps.setActiveKey(key);
      clearTimeout(highlightTimer);
      highlightTimer = setTimeout(() => setHighlightKey(null), HIGHLIGHT_MS);
    });
  });
  onCleanup(() => clearTimeout(highlightTimer));
  return highlightKey;
}
