/**
 * An aggregate's decision logic: `decide` turns a command and the current state into the events
 * to append (none for a no-op) or throws a NatterError; `evolve` folds one event into the state
 * and never throws; `initialState` is the state before the first event.
 */
export type Decider<Command, Event, State, Context = undefined> = {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  readonly decide: (command: Command, state: State, context: Context) => Event[];
};

/** Fails the type check when a switch over a union misses a case. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/**
 * True when free text can be kept in the read models: PostgreSQL's text and jsonb cannot hold the
 * NUL character (U+0000), so an event carrying one could never be projected.
 */
export function storableText(text: string): boolean {
  return !text.includes("\u0000");
}
export const NUL_REFUSED = { error: "text must not contain the NUL character (U+0000)" } as const;

/** Trims a free-text field and folds runs of white space inside names. */
export function cleanName(name: string): string {
  return name.trim().replace(/\s+/g, " ");
}
