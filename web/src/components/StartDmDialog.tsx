import { useChat } from "../stores/chat.ts";
import { createAction, FormError } from "./async.tsx";
import { Dialog } from "./Dialog.tsx";
import { UserPicker } from "./UserPicker.tsx";

/** Starts (or opens) a direct message with someone found by name. */
export function StartDmDialog(props: { onClose: () => void }) {
  const chat = useChat();
  const action = createAction();
  const pick = async (userId: string): Promise<void> => {
    if (action.busy()) return;
    const roomId = await action.run(() => chat.startDm(userId));
    if (roomId === undefined) return;
    props.onClose();
    chat.router.go({ view: "room", roomId });
  };
  return (
    <Dialog title="New direct message" onClose={props.onClose} testId="start-dm-dialog">
      <UserPicker label="To" testId="dm-user-picker" actionLabel="Message" onPick={(id) => void pick(id)} />
      <FormError error={action.error()} />
    </Dialog>
  );
}
