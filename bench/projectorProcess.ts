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
  const service = await startProjections(nc, database.db, {
    log,
    only: ["timeline"],
    ...(batch ? { batchSize: batch } : {}),
  });
  const projector = service.projectors.get("timeline")!;
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
