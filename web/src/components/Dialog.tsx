import { createUniqueId, onCleanup, onMount, type JSX } from "solid-js";

/**
 * A modal dialog (the native `<dialog>`: focus stays inside, the page behind is inert): focus moves
 * to its first field (or `[autofocus]`) when it opens and back to where it was when it closes (or,
 * when that control is gone by then, to its nearest focusable container still there, such as the
 * message whose toolbar opened it); Escape, the Close button and a click on the backdrop call
 * `onClose`. Mount it to open it.
 */
export function Dialog(props: {
  title: string;
  onClose: () => void;
  testId: string;
  children: JSX.Element;
  wide?: boolean;
  describedBy?: string;
}) {
  let el!: HTMLDialogElement;
  const titleId = createUniqueId();
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  // The opener's focusable containers, nearest first: focus goes back to one if the opener is gone by then.
  const containers: HTMLElement[] = [];
  for (let at = previous?.parentElement ?? null; at !== null; at = at.parentElement)
    if (at.hasAttribute("tabindex")) containers.push(at);

  onMount(() => {
    if (typeof el.showModal === "function") el.showModal();
    else el.setAttribute("open", "");
    const first = el.querySelector<HTMLElement>(
      "[autofocus], .dialog-body input:not([type=hidden]), .dialog-body select, .dialog-body textarea, .dialog-body button",
    );
    (first ?? el.querySelector<HTMLElement>(".dialog-close"))?.focus();
  });
  onCleanup(() => {
    if (el.open && typeof el.close === "function") el.close();
    const back = previous !== null && previous.isConnected ? previous : containers.find((c) => c.isConnected);
    back?.focus();
  });

  return (
    <dialog
      ref={el}
      class="dialog"
      classList={{ "dialog-wide": props.wide === true }}
      aria-labelledby={titleId}
      aria-describedby={props.describedBy}
      data-testid={props.testId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
      onClick={(e) => {
        if (e.target === el) props.onClose();
      }}
    >
      <div class="dialog-frame">
        <header class="dialog-header">
          <h2 id={titleId}>{props.title}</h2>
          <button
            type="button"
            class="icon-button dialog-close"
            aria-label="Close"
            data-testid="dialog-close"
            onClick={() => props.onClose()}
          >
            ×
          </button>
        </header>
        <div class="dialog-body">{props.children}</div>
      </div>
    </dialog>
  );
}
