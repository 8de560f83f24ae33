import { createSignal } from "solid-js";

/** The dialog open over the page, with what it is about. */
export type DialogState =
  | { kind: "directory" }
  | { kind: "createRoom" }
  | { kind: "startDm" }
  | { kind: "settings"; roomId: string }
  | { kind: "search"; query: string }
  | { kind: "history"; roomId: string; messageId: string }
  | { kind: "readBy"; roomId: string; messageId: string }
  | { kind: "confirmDelete"; roomId: string; messageId: string; authorId: string };

/** Screen state that is no one's data: the open dialog, the phone drawer, the message being edited. */
export function createUi() {
  const [dialog, setDialog] = createSignal<DialogState | null>(null);
  const [drawerOpen, setDrawerOpen] = createSignal(false);
  /** The message being edited, and in which composer (the room's or the thread's). */
  const [editing, setEditing] = createSignal<{ roomId: string; messageId: string; where: "room" | "thread" } | null>(
    null,
  );
  return {
    dialog,
    open: (d: DialogState): void => {
      setDialog(d);
    },
    close: (): void => {
      setDialog(null);
    },
    drawerOpen,
    setDrawerOpen,
    editing,
    setEditing,
  };
}

export type Ui = ReturnType<typeof createUi>;
