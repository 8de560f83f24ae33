import { createEffect, on, type Accessor } from "solid-js";
import { createAnnouncer } from "../../announcer.ts";
import { isUnconfirmed, messageKey, type TimelineMessage } from "../timelineRows.ts";
import type { TimelineVirtualizer } from "./useVirtualTimeline.ts";

/** The longest message text an announcement reads out. */
const SPOKEN_CHARS = 160;

/** The text of a rendered (sanitized) body, in one line, shortened for an announcement. */
function spokenText(html: string): string {
  // A parsed document is inert: nothing in it loads or runs.
  const text = (new DOMParser().parseFromString(html, "text/html").body.textContent ?? "").replace(/\s+/g, " ").trim();
  return text.length > SPOKEN_CHARS ? `${text.slice(0, SPOKEN_CHARS)}…` : text;
}

/**
 * A new last message: the user's own send brings the view down; someone else's is announced
 * (the text of the timeline's live region).
 */
export function useNewMessages(
  props: {
    readonly messages: readonly TimelineMessage[];
    readonly me: string;
    nameOf(userId: string): string;
    renderBody(body: string): string;
  },
  deps: { virtualizer: TimelineVirtualizer },
): Accessor<string> {
  const [announcement, announce] = createAnnouncer();
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
          if (last.pending === true) deps.virtualizer.scrollToEnd();
        } else if (!isUnconfirmed(last)) {
          const who = `New message from ${props.nameOf(last.authorId)}`;
          announce(last.deleted ? who : `${who}: ${spokenText(props.renderBody(last.body))}`);
        }
      },
    ),
  );
  return announcement;
}
