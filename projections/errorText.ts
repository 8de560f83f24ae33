/**
 * An error's message with its causes', innermost first: a database error arrives wrapped in the
 * query builder's "Failed query: ..." (the statement and its parameters), and the reason a parked
 * event failed is the cause. A longer text is cut after 2,000 characters.
 *
 * @example errorText(new Error("Failed query: insert ...", { cause: new Error("duplicate key") })) // "duplicate key; Failed query: insert ..."
 */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = err, depth = 0;
    e !== undefined && e !== null && depth < 5;
    e = e instanceof Error ? e.cause : undefined, depth++
  ) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  // A failed multi-row insert lists every parameter of the batch: keep the head of it.
  const text = parts.reverse().join("; ");
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
