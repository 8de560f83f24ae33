import { Match, Show, Switch, createSignal, type Accessor, type JSX, type Resource } from "solid-js";

/** The text of an error, for people. */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * An action a form or button runs: `busy` while it runs, `error` with why it failed (the user
 * sees it), `run(f)` answers f's value or undefined when it failed.
 */
export function createAction() {
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<string | null>(null);
  return {
    busy,
    error,
    setError,
    async run<T>(f: () => Promise<T>): Promise<T | undefined> {
      setBusy(true);
      setError(null);
      try {
        return await f();
      } catch (err) {
        setError(errorText(err));
        return undefined;
      } finally {
        setBusy(false);
      }
    },
  };
}

/** Why a form failed, announced. */
export function FormError(props: { error: string | null }) {
  return (
    <Show when={props.error}>
      {(text) => (
        <p class="form-error" role="alert">
          {text()}
        </p>
      )}
    </Show>
  );
}

/** A resource's value once loaded; "Loading…" before, `failed` (announced) when it fails. */
export function Loaded<T>(props: {
  resource: Resource<T>;
  failed: string;
  loading?: string;
  children: (value: Accessor<T>) => JSX.Element;
}) {
  return (
    <Switch>
      <Match when={props.resource.loading}>
        <p class="muted" role="status">
          {props.loading ?? "Loading…"}
        </p>
      </Match>
      <Match when={props.resource.error !== undefined}>
        <p role="alert">
          {props.failed} {errorText(props.resource.error)}
        </p>
      </Match>
      <Match when={props.resource()}>{(value) => props.children(value)}</Match>
    </Switch>
  );
}
