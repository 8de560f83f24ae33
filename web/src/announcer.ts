import { createSignal, getOwner, onCleanup, type Accessor } from "solid-js";

/** How long a live region stays empty before the next announcement fills it. */
const GAP_MS = 100;

/**
 * The text of a live region (`aria-live="polite"`) and the function that says something in it.
 * Screen readers read what is added to a region: so the region is emptied first and filled a
 * moment later, and the same words twice (two "ok" from one person) are said twice.
 *
 * @example
 * const [announcement, announce] = createAnnouncer();
 * announce("New message from bob: hi");
 * <div class="sr-only" aria-live="polite">{announcement()}</div>
 */
export function createAnnouncer(): [Accessor<string>, (text: string) => void] {
  const [text, setText] = createSignal("");
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (getOwner() !== null) onCleanup(() => clearTimeout(timer));
  const announce = (next: string): void => {
    clearTimeout(timer);
    setText("");
    timer = setTimeout(() => setText(next), GAP_MS);
  };
  return [text, announce];
}
