/**
 * The timeline projector alone, in a process of its own, for the lag phase of the `projections`
 * bench (so that the bench client, which times commands, does not share an event loop with it):
 *
 *   NATS_URL=... DATABASE_URL=... [NATTER_BENCH_BATCH=N] node --import tsx bench/projectorProcess.ts
 *
 * It runs natter's real projector (`startProjections` with `only: ["timeline"]`), prints one line
 * `active` on stdout once it applies, and stops cleanly on SIGTERM. Warnings go to stderr.
 */
import { pino } from "pino";
import { openDatabase, startProjections } from "../projections/index.ts";
import { connectNats } from "../streams/index.ts";

async function main(): Promise<void> {
  const url = process.env["NATS_URL"];
  const databaseUrl = process.env["DATABASE_URL"];
  if (!url || !databaseUrl) throw new Error("NATS_URL and DATABASE_URL must be set");
  const batch = process.env["NATTER_BENCH_BATCH"] ? Number(process.env["NATTER_BENCH_BATCH"]) : undefined;
  const log = pino({ level: "warn" }, pino.destination({ dest: 2, sync: true }));
  const nc = await connectNats(url, { name: "natter-bench-projector" });
  const database = await openDatabase({ url: databaseUrl });
  const { Projector: Fast } = await import(process.env["FAST"] === "hdr" ? "../projections/zz_cache_runtime_hdr.ts" : "../projections/zz_cache_runtime_fast.ts");
  const { ensureEventStream } = await import("../streams/index.ts");
  const { timelineProjection } = await import("../projections/index.ts");
  await ensureEventStream(nc);
  const projector = new Fast(nc, timelineProjection, { log, db: database.db, ...(batch ? { batchSize: batch } : {}) });
  projector.start();
  const service = { stop: () => projector.stop() };
  void startProjections;
  while (projector.status !== "active") {
    if (projector.status === "stopped") throw new Error("the timeline projector stopped");
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log("active");
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    void (async () => {
      await service.stop();
      await database.close();
      await nc.close();
      process.exit(0);
    })();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
