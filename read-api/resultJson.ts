import type { Message, Output, QueryName } from "./schemas.ts";

const texts = new WeakMap<Message, string>();

/**
 * A message as JSON text, made once per message object: the timeline cache hands the same objects
 * to every page that shows them (they are never changed; a change is a new object).
 */
export function messageJson(m: Message): string {
  let t = texts.get(m);
  if (t === undefined) {
    t = JSON.stringify(m);
    texts.set(m, t);
  }
  return t;
}

/** A query's answer as JSON text; a timeline page is put together from its messages' text. */
export function resultJson(name: QueryName, result: unknown): string {
  if (name !== "messages") return JSON.stringify(result);
  const { messages, ...rest } = result as Output<"messages">;
  const others = JSON.stringify(rest);
  return `{"messages":[${messages.map(messageJson).join(",")}]${others === "{}" ? "}" : `,${others.slice(1)}`}`;
}
