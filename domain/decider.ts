import { unstorable } from "./text.ts";
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
 * True when free text can be kept in the log and every read model (see text.ts `unstorable`: no
 * NUL, no lone surrogate). The zod schemas refine their text fields with it, so the field's own
 * error names the problem too.
 */
export function fitsStores(text: string): boolean {
  return unstorable(text) === undefined;
}
export const NUL_REFUSED = { error: "text must not contain NUL (U+0000) or a lone surrogate" } as const;

/** Trims a free-text field and folds runs of white space inside names. */
export function cleanName(name: string): string {
  return name.trim().replace(/\s+/g, " ");
}
