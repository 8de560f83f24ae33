import { createSignal } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { createAction, FormError } from "./async.tsx";
import { Dialog } from "./Dialog.tsx";
import { UserPicker } from "./UserPicker.tsx";

/** Creates a public or private room with a name, a topic and (private) its first members. */
export function CreateRoomDialog(props: { onClose: () => void }) {
  const chat = useChat();
  const [name, setName] = createSignal("");
  const [kind, setKind] = createSignal<"public" | "private">("public");
  const [topic, setTopic] = createSignal("");
  const [members, setMembers] = createSignal<string[]>([]);
  const action = createAction();

  const submit = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    if (name().trim() === "") {
      action.setError("Give the room a name.");
      return;
    }
    const roomId = await action.run(() =>
      chat.createRoom({ name: name().trim(), kind: kind(), topic: topic(), members: members() }),
    );
    if (roomId === undefined) return;
    props.onClose();
    chat.router.go({ view: "room", roomId });
  };
  return (
    <Dialog title="New room" onClose={props.onClose} testId="create-room-dialog">
      <form class="form" onSubmit={(e) => void submit(e)}>
        <label class="field">
          <span>Name</span>
          <input
            data-testid="room-name-input"
            required
            maxLength={80}
            value={name()}
            onInput={(e) => setName(e.currentTarget.value)}
            autofocus
          />
        </label>
        <fieldset class="field">
          <legend>Who can find it</legend>
          <label>
            <input
              type="radio"
              name="kind"
              value="public"
              data-testid="room-kind-public"
              checked={kind() === "public"}
              onChange={() => setKind("public")}
            />{" "}
            Public: anyone can find, read and join it
          </label>
          <label>
            <input
              type="radio"
              name="kind"
              value="private"
              data-testid="room-kind-private"
              checked={kind() === "private"}
              onChange={() => setKind("private")}
            />{" "}
            Private: members and people they invite
          </label>
        </fieldset>
        <label class="field">
          <span>Topic (optional)</span>
          <input
            data-testid="room-topic-input"
            maxLength={500}
            value={topic()}
            onInput={(e) => setTopic(e.currentTarget.value)}
          />
        </label>
        <UserPicker
          label="Members (optional)"
          testId="room-members-picker"
          selected={members()}
          onToggle={(id) => setMembers((m) => (m.includes(id) ? m.filter((x) => x !== id) : [...m, id]))}
        />
        <FormError error={action.error()} />
        <div class="form-actions">
          <button type="button" onClick={() => props.onClose()}>
            Cancel
          </button>
          <button type="submit" class="primary" data-testid="create-room-submit" disabled={action.busy()}>
            Create room
          </button>
        </div>
      </form>
    </Dialog>
  );
}
