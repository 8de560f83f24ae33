import { createStore, produce } from "solid-js/store";
import { ServerError, type CommandBody, type CommandName, type Server } from "../server.ts";

/** A short message shown to the user for a while (an action that failed, a hint). */
export type Toast = { id: number; text: string };

/** How long a toast stays. */
const TOAST_MS = 6000;

/** The toasts shown, and the function that shows one for a while. */
export function createToasts() {
  const [toasts, setToasts] = createStore<Toast[]>([]);
  let toastId = 0;

  function toast(text: string): void {
    const id = ++toastId;
    setToasts(produce((t) => t.push({ id, text })));
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), TOAST_MS);
  }

  return { toasts, toast };
}

/** Sends a command (as admin when asked); what the chat's actions send through. */
export type RunCommand = ReturnType<typeof createCommandRunner>;

/** Sends commands; a refusal is shown as a toast and thrown on. */
export function createCommandRunner(server: Pick<Server, "command">, toast: (text: string) => void) {
  return async function run<C extends CommandName>(name: C, body: CommandBody<C>, options: { admin?: boolean } = {}) {
    try {
      return await server.command(name, body, options);
    } catch (err) {
      toast(err instanceof ServerError ? err.message : `Something went wrong: ${String(err)}`);
      throw err;
    }
  };
}
