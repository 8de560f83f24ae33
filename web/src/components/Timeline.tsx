/**
 * A room's timeline: only the rows in view (and a few beyond) are in the DOM, measured as they
 * render (@tanstack/solid-virtual). It stays at the bottom while new messages arrive there, keeps
 * the text being read in place when older pages are prepended, and loads older pages at the top.
 * Each of these behaviours is a hook of its own in ./timeline/.
 *
 * @example
 * <Timeline messages={timeline.messages} me={session.userId} nameOf={names.of} lastReadSeq={marker}
 *   hasOlder={timeline.hasOlder} loadOlder={() => timeline.loadOlder()} canModerate={isMod()}
 *   renderBody={renderMarkdown} onReact={react} … onVisibleLatest={(seq) => markRead(seq)} />
 */
import { For, Show, createMemo, createSignal } from "solid-js";
import "../timeline.css";
import { MessageItem, type MessageActions } from "./MessageItem.tsx";
import { useJumpTo } from "./timeline/useJumpTo.ts";
import { useNewMessages } from "./timeline/useNewMessages.ts";
import { usePrependAnchor } from "./timeline/usePrependAnchor.ts";
import { useRovingFocus } from "./timeline/useRovingFocus.ts";
import { useTimelineEdges } from "./timeline/useTimelineEdges.ts";
import { useVirtualTimeline } from "./timeline/useVirtualTimeline.ts";
import { dayLabel, messageKey, rowDecor, sameDecor, unreadIndex, type TimelineMessage } from "./timelineRows.ts";

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

/** The timeline of one room; see TimelineProps. */
export function Timeline(props: TimelineProps) {
  let scroller!: HTMLDivElement;
  const [openKey, setOpenKey] = createSignal<string | null>(null);
  const unreadAt = createMemo(() => unreadIndex(props.messages, props.lastReadSeq, props.me));

  // Effects made together run in the order they are made: the hooks are made in the order their
  // effects run (edges, prepend anchor, new messages, jump) and reach later ones through closures.
  const { virtualizer, rows } = useVirtualTimeline(props, { scroller: () => scroller, onChange: () => edges.check() });
  const edges = useTimelineEdges(props, {
    virtualizer,
    rows,
    beforeCheck: () => anchor.follow(),
    onLoadOlder: () => anchor.loadStarts(),
  });
  const anchor = usePrependAnchor(props, { scroller: () => scroller, loadingOlder: edges.loadingOlder });
  const announcement = useNewMessages(props, { virtualizer });
  const roving = useRovingFocus(props, { scroller: () => scroller, virtualizer, rows, stopSettling: anchor.stop });
  const highlightKey = useJumpTo(props, { virtualizer, stopSettling: anchor.stop, setActiveKey: roving.setActiveKey });

  return (
    <section class="timeline" aria-label="Timeline">
      <div
        ref={scroller}
        class="tl-scroll"
        tabIndex={roving.listTabIndex()}
        onKeyDown={(e) => {
          anchor.stop();
          roving.onKeyDown(e);
        }}
        onWheel={anchor.stop}
        onTouchStart={anchor.stop}
        onPointerDown={anchor.stop}
        onFocusIn={roving.onFocusIn}
      >
        <div class="tl-sizer" style={{ height: `${virtualizer.getTotalSize()}px` }}>
          <div class="tl-head-line" aria-live="polite">
            <Show
              when={edges.loadingOlder()}
              fallback={<Show when={!props.hasOlder && props.messages.length > 0}>This is the start of the room.</Show>}
            >
              Loading older messages…
            </Show>
          </div>
          <div class="tl-feed" role="feed" aria-label="Messages" aria-busy={edges.loadingOlder()}>
            <For each={rows().list}>
              {(m) => {
                // Memos: the rows move on every scroll, a row's index and decorations rarely.
                const index = createMemo(() => rows().at.get(m) ?? 0);
                // Each row at its own offset: a row above that is not measured yet cannot push it.
                const top = createMemo(() => rows().start.get(m) ?? 0);
                const decor = createMemo(() => rowDecor(props.messages, index(), unreadAt()), undefined, {
                  equals: sameDecor,
                });
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
                      active={roving.isActive(m, index())}
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
      <Show when={!edges.atBottom() && props.messages.length > 0}>
        <button
          type="button"
          class="tl-jump"
          aria-label={edges.newBelow() > 0 ? `Jump to latest, ${edges.newBelow()} new` : "Jump to latest"}
          onClick={() => virtualizer.scrollToEnd()}
        >
          Jump to latest
          <Show when={edges.newBelow() > 0}>
            <span class="tl-jump-count">{edges.newBelow()} new</span>
          </Show>
        </button>
      </Show>
      <div class="tl-sr-only" aria-live="polite">
        {announcement()}
      </div>
    </section>
  );
}
