/**
 * The replay CLI's side of a maintenance request: natter (on embedded PGlite) does the work, and
 * this plays its progress and result back as if the CLI had done it.
 */
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { assertNever } from "../domain/index.ts";
import { MaintenanceError } from "../projections/index.ts";
import { UsageError, type MaintenanceTarget } from "./context.ts";
import type { Operation, OperationResult, ProgressBar, Reporter } from "./operations.ts";
import { decodeMessage, MaintenanceReply, type MaintenanceRequest } from "./protocol.ts";

export type RemoteOptions = {
  /** How long natter may take to accept the request. */
  acceptMs?: number;
  /** How long natter may stay silent while it works (it says it is alive every few seconds). */
  silenceMs?: number;
};

/**
 * Asks the natter of `target` to run `operation` and resolves with its result; its notes and
 * progress go to `report`. Its refusals reject as UsageError, its failures as MaintenanceError.
 */
export async function runRemote(
  nc: NatsConnection,
  target: MaintenanceTarget,
  operation: Operation,
  report: Reporter,
  options: RemoteOptions = {},
): Promise<OperationResult> {
  const acceptMs = options.acceptMs ?? 10_000;
  const silenceMs = options.silenceMs ?? 30_000;
  const inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  const sub = nc.subscribe(inbox);
  const replies = sub[Symbol.asyncIterator]();
  const request: MaintenanceRequest = { token: target.token, operation };
  nc.publish(target.subject, JSON.stringify(request), { reply: inbox });
  let accepted = false;
  let bar: ProgressBar | undefined;
  const parts: string[] = [];
  try {
    for (;;) {
      const waitMs = accepted ? silenceMs : acceptMs;
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<"silent">((resolve) => (timer = setTimeout(() => resolve("silent"), waitMs)));
      const next = await Promise.race([replies.next(), silent]).finally(() => clearTimeout(timer));
      if (next === "silent") {
        throw accepted
          ? new MaintenanceError(
              `natter (pid ${target.pid}) went silent for ${silenceMs / 1000} s during ${operation.op}: the work may go on there; see its log`,
            )
          : new MaintenanceError(
              `natter (pid ${target.pid}) did not take the request within ${acceptMs / 1000} s on ${target.subject}: is it busy or stuck? See its log`,
            );
      }
      if (next.done) throw new MaintenanceError("the connection to NATS closed before natter answered");
      const m = next.value;
      if (m.headers?.code === 503)
        throw new MaintenanceError(
          `natter (pid ${target.pid}) takes no maintenance requests on ${target.subject}: is it older than this tool? Restart it, or stop it and run the command again`,
        );
      const r = decodeMessage(
        m,
        MaintenanceReply,
        "natter answered in a shape this tool does not know (another version?)",
      );
      switch (r.kind) {
        case "accepted":
          accepted = true;
          break;
        case "alive":
          break;
        case "note":
          report.note(r.line);
          break;
        case "bar":
          bar?.stop();
          bar = report.bar(r.label);
          break;
        case "progress":
          bar?.update(r.progress);
          break;
        case "barEnd":
          bar?.stop();
          bar = undefined;
          break;
        case "part":
          parts.push(r.data);
          break;
        case "done":
          return { rows: JSON.parse(parts.join("")) as Record<string, unknown>[], code: r.code };
        case "error":
          throw r.code === "failed" ? new MaintenanceError(r.message) : new UsageError(r.message);
        default:
          assertNever(r);
      }
    }
  } finally {
    bar?.stop();
    sub.unsubscribe();
  }
}
