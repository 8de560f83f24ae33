import { For, Show, createResource } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { createAction, FormError, Loaded } from "./async.tsx";
import { Dialog } from "./Dialog.tsx";
import { PresenceDot } from "./PresenceDot.tsx";

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A message's edit history: the original, then each edit with who and when (as plain text). */
export function HistoryDialog(props: { roomId: string; messageId: string; onClose: () => void }) {
  const chat = useChat();
  const [history] = createResource(() => chat.server.history(props.roomId, props.messageId));
  return (
    <Dialog title="Edit history" onClose={props.onClose} testId="edit-history" wide>
      <Loaded resource={history} failed="The history could not be loaded:">
        {(h) => (
          <Show when={h().edits.length > 0} fallback={<p class="muted">This message was never edited.</p>}>
            <ol class="history-list">
              <li class="history-entry" data-testid="history-entry">
                <span class="muted small-text">Original</span>
                <pre class="history-body">{h().edits[0]!.previousBody}</pre>
              </li>
              <For each={h().edits}>
                {(edit) => (
                  <li class="history-entry" data-testid="history-entry">
                    <span class="muted small-text">
                      Edited by {chat.users.nameOf(edit.editedBy)}, {when(edit.editedAt)}
                    </span>
                    <pre class="history-body">{edit.body}</pre>
                  </li>
                )}
              </For>
            </ol>
          </Show>
        )}
      </Loaded>
    </Dialog>
  );
}

/** Who has read up to a message. */
export function ReadByDialog(props: { roomId: string; messageId: string; onClose: () => void }) {
  const chat = useChat();
  const [readBy] = createResource(() => chat.server.readBy(props.roomId, props.messageId));
  return (
    <Dialog title="Seen by" onClose={props.onClose} testId="read-by">
      <Loaded resource={readBy} failed="Could not be loaded:">
        {(r) => (
          <Show when={r().userIds.length > 0} fallback={<p class="muted">Nobody has read it yet.</p>}>
            <ul class="user-list">
              <For each={r().userIds}>
                {(id) => (
                  <li class="user-row" data-testid="read-by-user" data-user-id={id}>
                    <PresenceDot status={chat.presence.of(id)} />
                    <span>{chat.users.nameOf(id)}</span>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        )}
      </Loaded>
    </Dialog>
  );
}

/** Asks before deleting a message (one's own, or another's as moderator). */
export function ConfirmDeleteDialog(props: {
  roomId: string;
  messageId: string;
  authorId: string;
  onClose: () => void;
}) {
  const chat = useChat();
  const action = createAction();
  const others = () => props.authorId !== "" && props.authorId !== chat.me;
  return (
    <Dialog title="Delete message" onClose={props.onClose} testId="confirm-delete-dialog">
      <p>
        {others()
          ? `Delete this message by ${chat.users.nameOf(props.authorId)} for everyone?`
          : "Delete your message for everyone?"}
      </p>
      <FormError error={action.error()} />
      <div class="form-actions">
        <button type="button" onClick={() => props.onClose()} autofocus>
          Cancel
        </button>
        <button
          type="button"
          class="danger"
          data-testid="confirm-delete"
          disabled={action.busy()}
          onClick={() =>
            void action
              .run(() => chat.deleteMessage(props.roomId, props.messageId, props.authorId))
              .then((ok) => ok !== undefined && props.onClose())
          }
        >
          Delete
        </button>
      </div>
    </Dialog>
  );
}
