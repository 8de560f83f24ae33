import { InvalidError } from "./errors.ts";

/**
 * Why `text` cannot be carried by the log and every projection, or undefined when it can:
 * PostgreSQL refuses NUL in `text` and `jsonb`, and a lone surrogate (half of a UTF-16 pair) has no
 * UTF-8 form, so `jsonb` refuses its escape and a `text` column would store something else.
 */
export function unstorable(text: string): string | undefined {
  if (text.includes("\u0000")) return "contains NUL (U+0000)";
  if (!text.isWellFormed()) return "contains a lone surrogate (half of a UTF-16 pair, not a character)";
  return undefined;
}

/**
 * The first string in a JSON value (keys included) that the stores cannot carry, with its path
 * (`members.2`, `body`), or undefined. Walks at most `depth` levels; a JSON body of a command or a
 * query is shallow.
 */
export function findUnstorable(value: unknown, path = "", depth = 16): { path: string; problem: string } | undefined {
  if (typeof value === "string") {
    const problem = unstorable(value);
    return problem === undefined ? undefined : { path: path || "(body)", problem };
  }
  if (typeof value !== "object" || value === null) return undefined;
  if (depth === 0) return { path: path || "(body)", problem: "is nested too deeply to be checked" };
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value);
  for (const [key, v] of entries) {
    const at = path === "" ? key : `${path}.${key}`;
    const keyProblem = unstorable(key);
    if (keyProblem !== undefined) return { path: at, problem: `its name ${keyProblem}` };
    const found = findUnstorable(v, at, depth - 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Refuses text from outside that the log and the projections cannot carry, naming the field:
 * the one check at every place where text enters (command bodies, the headers copied into events,
 * query parameters).
 *
 * @example assertStorable({ body: "hi\u0000" }, "msg.post command") // throws InvalidError, field "body"
 */
export function assertStorable(value: unknown, what: string): void {
  const found = findUnstorable(value);
  if (found === undefined) return;
  throw new InvalidError(`invalid ${what}: ${found.path} ${found.problem}`, {
    details: { fields: [{ path: found.path, message: found.problem, code: "unstorable_text" }] },
  });
}

/**
 * Text that a store can carry whatever came in, for what natter writes itself about outside input
 * (an error's message that quotes an event): NUL and lone surrogates become U+FFFD.
 */
export function storableText(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD").toWellFormed();
}
