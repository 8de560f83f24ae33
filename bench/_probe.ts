import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../streams/connect.ts";
import { ensureEventStream, ensureBuckets } from "../streams/setup.ts";
import { CpuMeter, fastUlid, startTempNats, windowed } from "./lib.ts";

const server = await startTempNats();
const nc = await connectNats(server.url);
await ensureEventStream(nc);
const buckets = await ensureBuckets(nc);
const js = jetstream(nc);
const jsm = await jetstreamManager(nc, { checkAPI: false });
// preload: 1000 rooms with 5 events, 20k messages
const last: number[] = new Array(1000).fill(0);
await windowed(5000, 256, async (i) => { const r = i % 1000; const a = await js.publish(`ev.room.r${r}`, "{}", { }); last[r] = a.seq; });
await windowed(20000, 256, async (i) => { await js.publish(`ev.msg.r${i % 1000}.${fastUlid()}`, "{\"x\":1}"); });
for (let r = 0; r < 1000; r++) { const m = await jsm.direct.getMessage("CHAT_EVENTS", { last_by_subj: `ev.room.r${r}` }); last[r] = m!.seq; }
const conc = Number(process.argv[2] ?? 64);
const N = 20000;
const cpu = new CpuMeter({ server: server.process.pid, client: process.pid });
async function bench(name: string, op: (i: number) => Promise<unknown>) {
  await cpu.start();
  const t = performance.now();
  let errs = 0;
  await windowed(N, conc, async (i) => { try { await op(i); } catch { errs++; } });
  const s = (performance.now() - t) / 1000;
  console.log(`${name.padEnd(40)} ${(N / s).toFixed(0).padStart(7)}/s  ${errs ? errs + " errors " : ""}${await cpu.report()}`);
}
async function drain(iter: AsyncIterable<unknown>) { let n = 0; for await (const _ of iter) n++; return n; }
await bench("js.publish new subject expect 0", (i) => js.publish(`ev.msg.r${i % 1000}.${fastUlid()}`, "{\"x\":1}", { msgID: fastUlid(), expect: { lastSubjectSequence: 0 } }));
await bench("getBatch missing subject (404)", (i) => jsm.direct.getBatch("CHAT_EVENTS", { seq: 1, next_by_subj: `ev.msg.r${i % 1000}.${fastUlid()}`, batch: 256 }).then(drain));
await bench("getBatch room after last (404)", (i) => jsm.direct.getBatch("CHAT_EVENTS", { seq: last[i % 1000]! + 1, next_by_subj: `ev.room.r${i % 1000}`, batch: 256 }).then(drain));
await bench("getBatch room from 1 (5 events)", (i) => jsm.direct.getBatch("CHAT_EVENTS", { seq: 1, next_by_subj: `ev.room.r${i % 1000}`, batch: 256 }).then(drain));
await bench("getMessage last_by_subj room", (i) => jsm.direct.getMessage("CHAT_EVENTS", { last_by_subj: `ev.room.r${i % 1000}` }));
await bench("getMessage last_by_subj missing", (i) => jsm.direct.getMessage("CHAT_EVENTS", { last_by_subj: `ev.msg.r${i % 1000}.${fastUlid()}` }));
await bench("kv get missing", (i) => buckets.commands.get(`u.${fastUlid()}`));
await bench("kv put", (i) => buckets.commands.put(`u.${fastUlid()}`, "{\"seq\":1}"));
await bench("core request to nobody-ish (echo)", async () => {});
await nc.close();
await server.stop();
