import { Show, createSignal } from "solid-js";
import type { Auth } from "../auth.ts";

/** The signed-out page: what natter is and a Sign in button (to the identity provider). */
export function Login(props: { auth: Auth }) {
  const [busy, setBusy] = createSignal(false);
  const signIn = async (): Promise<void> => {
    setBusy(true);
    try {
      await props.auth.signIn();
    } catch (err) {
      setBusy(false);
      alertProblem(err);
    }
  };
  const [error, setError] = createSignal<string | null>(null);
  const alertProblem = (err: unknown): void => {
    setError(`The sign-in page cannot be reached: ${err instanceof Error ? err.message : String(err)}`);
  };
  return (
    <main class="login" aria-labelledby="login-title">
      <div class="login-card">
        <h1 id="login-title" class="brand">
          natter
        </h1>
        <p class="muted">Team chat: public rooms, private rooms and direct messages.</p>
        <Show when={props.auth.problem() ?? error()}>
          {(text) => (
            <p class="login-problem" role="alert" data-testid="login-problem">
              {text()}
            </p>
          )}
        </Show>
        <button
          type="button"
          class="primary large"
          data-testid="login-button"
          disabled={busy()}
          onClick={() => void signIn()}
        >
          {busy() ? "Signing in…" : "Sign in"}
        </button>
      </div>
    </main>
  );
}
