/**
 * natter's side of the replay tool on embedded defaults: PGlite serves only the process that
 * opened it, so `npm start` runs the tool's database work itself, on its own PGlite, when the CLI
 * asks over NATS (docs/contracts.md, "Maintenance requests"). PGlite runs one transaction at a time,
 * so the work's transactions and the projectors' never interleave.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ForbiddenError } from "../domain/index.ts";
import type { Db, MaintenanceProgress } from "../projections/index.ts";
import { isInbox } from "../streams/index.ts";
import { UsageError } from "./context.ts";
import { changesReadModels, runOperation, type Operation, type Reporter, type Workspace } from "./operations.ts";
import { decodeMessage, maintenanceSubject, MaintenanceReply, MaintenanceRequest, partsOf } from "./protocol.ts";

export type MaintenanceServiceOptions = {
  /** The projectors' lease TTL (NATTER_PROJECTION_LEASE_MS). */
  leaseMs: number;
  /** Replicas of buckets made where missing (NATTER_STREAM_REPLICAS). */
  replicas: number;
  /** Where each request's start, end and refusal are logged. */
  log: Logger;
  /** How often a request in progress tells the CLI that natter is still at it. */
  heartbeatMs?: number;
  /**
   * Events a rebuild applies per transaction. PGlite works on natter's own event loop, so a batch
   * holds up everything else while it runs: with 2,000 (the CLI's) commands waited up to 0.9 s
   * during a rebuild, with 250 under 0.2 s, and the rebuild was no slower.
   */
  batchSize?: number;
  /** The least time between two progress replies (phase changes and the last one always go). */
  progressEveryMs?: number;
};

/**
 * The running service: where it answers, and the secret a request must carry (natter writes both
 * to its runtime file, readable by its own user only). `stop` takes no more requests and tells
 * those still running that natter stops.
 */
export type MaintenanceService = { readonly subject: string; readonly token: string; stop(): Promise<void> };

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Answers the replay CLI's requests with work on `nc` and `db`, on a subject of its own. */
export function startMaintenanceService(
  nc: NatsConnection,
  db: Db,
  options: MaintenanceServiceOptions,
): MaintenanceService {
  const { log } = options;
  const subject = maintenanceSubject(randomBytes(8).toString("hex"));
  const token = randomBytes(32).toString("base64url");
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const progressEveryMs = options.progressEveryMs ?? 250;
  const expected = digest(token);
  const workspace: Workspace = {
    nats: async () => nc,
    db: async () => db,
    maintenance: (c, d) => ({
      nc: c,
      db: d,
      leaseMs: options.leaseMs,
      replicas: options.replicas,
      batchSize: options.batchSize ?? 250,
    }),
  };
  // Work that changes read models runs one request at a time, in the order asked.
  let queue: Promise<unknown> = Promise.resolve();
  let changing = 0;
  const running = new Set<(reply: MaintenanceReply) => void>();
  let stopped = false;

  const reporter = (send: (r: MaintenanceReply) => void): Reporter => ({
    note: (line) => send({ kind: "note", line }),
    bar(label) {
      send({ kind: "bar", label });
      let last = 0;
      let phase = "";
      let pending: MaintenanceProgress | undefined;
      return {
        update(p) {
          pending = p;
          if (p.phase === phase && Date.now() - last < progressEveryMs) return;
          phase = p.phase;
          last = Date.now();
          pending = undefined;
          send({ kind: "progress", progress: p });
        },
        stop() {
          if (pending !== undefined) send({ kind: "progress", progress: pending });
          pending = undefined;
          send({ kind: "barEnd" });
        },
      };
    },
  });

  const perform = async (operation: Operation, send: (r: MaintenanceReply) => void): Promise<void> => {
    const work = () => runOperation(workspace, operation, reporter(send));
    if (!changesReadModels(operation)) {
      const result = await work();
      return sendResult(send, result.rows, result.code);
    }
    if (changing > 0)
      send({ kind: "note", line: `waiting for ${changing} maintenance run(s) before this one to finish` });
    changing++;
    const turn = queue.then(work);
    queue = turn.catch(() => undefined);
    try {
      const result = await turn;
      sendResult(send, result.rows, result.code);
    } finally {
      changing--;
    }
  };

  const sendResult = (send: (r: MaintenanceReply) => void, rows: unknown[], code: number) => {
    for (const data of partsOf(JSON.stringify(rows), nc.info?.max_payload ?? 65536)) send({ kind: "part", data });
    send({ kind: "done", code });
  };

  const handle = async (msg: Msg): Promise<void> => {
    // Answer only into an inbox: this connection's permissions would let a reply go further.
    if (msg.reply === undefined || !isInbox(msg.reply)) {
      log.warn({ subject: msg.subject, reply: msg.reply }, "maintenance request without an inbox to answer: ignored");
      return;
    }
    const reply = msg.reply;
    let done = false;
    const send = (r: MaintenanceReply) => {
      if (done) return;
      if (r.kind === "done" || r.kind === "error") done = true;
      try {
        nc.publish(reply, JSON.stringify(r));
      } catch (err) {
        log.warn({ err }, "maintenance: cannot answer (connection closed?)");
      }
    };
    let request: MaintenanceRequest;
    try {
      request = decodeMessage(msg, MaintenanceRequest, "not a maintenance request");
      const given = digest(request.token);
      if (!timingSafeEqual(given, expected))
        throw new ForbiddenError(
          "the request does not carry this natter's maintenance token (the runtime file's): run the tool as the user natter runs as, with its data dir",
        );
    } catch (err) {
      const code = err instanceof ForbiddenError ? "forbidden" : "invalid";
      log.warn({ code, reason: (err as Error).message }, "maintenance request refused");
      send({ kind: "error", code, message: (err as Error).message });
      return;
    }
    if (stopped) {
      send({ kind: "error", code: "failed", message: "natter is stopping: run the command again once it is up" });
      return;
    }
    const { operation } = request;
    send({ kind: "accepted" });
    running.add(send);
    const heartbeat = setInterval(() => send({ kind: "alive" }), heartbeatMs);
    const started = Date.now();
    log.info({ operation }, "maintenance: started for the replay tool");
    try {
      await perform(operation, send);
      log.info({ operation, ms: Date.now() - started }, "maintenance: done");
    } catch (err) {
      const usage = err instanceof UsageError;
      if (!usage) log.error({ err, operation }, "maintenance: failed");
      send({ kind: "error", code: usage ? "usage" : "failed", message: (err as Error).message });
    } finally {
      clearInterval(heartbeat);
      running.delete(send);
    }
  };

  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        log.error({ err }, "maintenance: subscription failed");
        return;
      }
      void handle(msg);
    },
  });
  log.info({ subject }, "maintenance: taking the replay tool's requests (embedded PGlite)");

  return {
    subject,
    token,
    async stop() {
      stopped = true;
      sub.unsubscribe();
      // The work itself cannot be called off; what it committed stays (a rebuild resumes from it).
      for (const send of running)
        send({
          kind: "error",
          code: "failed",
          message:
            "natter is stopping: the work was cut short; run the command again once it is up (a rebuild resumes where it stopped)",
        });
      running.clear();
      await nc.flush().catch(() => undefined);
    },
  };
}
