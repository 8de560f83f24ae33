import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createTokenVerifier } from "../auth/index.ts";
import { userIdFromSub, type RateLimit } from "../domain/index.ts";
import {
  PROJECTIONS,
  readCheckpoint,
  startLive,
  startPresence,
  startProjections,
  waitForApplied,
  type Database,
  type LiveFanout,
  type ProjectionService,
} from "../projections/index.ts";
import { queryOfNatsName, startReadApi, type ReadApi } from "../read-api/index.ts";
import { EventStore } from "../streams/index.ts";
import { startAuthSystem, type AuthSystem } from "./authHarness.ts";
import { mustSend, sendCommand } from "./commandClient.ts";
import { openTestDatabase } from "./database.ts";
import { validateNatsAnswer, validateResponse } from "./openApiCheck.ts";
import { startTestIssuer, type TestIssuer } from "./tokenIssuer.ts";

/** Realm roles of the test users: alice admin, bob and dave users, charlie no role. */
const USERS = { alice: ["admin", "user"], bob: ["user"], dave: ["user"], charlie: [] } as const;
export type TestUser = keyof typeof USERS;

/** A signed-in test user: id, token, NATS connection, and helpers that act as them. */
export type Actor = {
  readonly id: string;
  readonly token: string;
  readonly nc: NatsConnection;
  /** A command as this user; throws unless it succeeds. */
  cmd(
    action: string,
    body: Record<string, unknown>,
    options?: { admin?: boolean },
  ): Promise<{ result: Record<string, unknown>; seq: number }>;
  /** A command as this user; resolves with the reply, ok or not. */
  try(action: string, body: Record<string, unknown>, options?: { headers?: MsgHdrs }): ReturnType<typeof sendCommand>;
  /** An HTTP request to the read API as this user; every answer is checked against the OpenAPI document. */
  get<T = any>(path: string): Promise<{ status: number; body: T; headers: Headers }>;
  post<T = any>(path: string, body: unknown): Promise<{ status: number; body: T; headers: Headers }>;
  /** A NATS query as this user (`q.<uid>.<name>`, or `adminq.` with admin). */
  q<T = any>(
    name: string,
    body?: Record<string, unknown>,
    options?: { admin?: boolean },
  ): Promise<{ ok: boolean; result?: T; error?: { code: string; message: string } }>;
};

/** The whole read side behind auth: NATS with the callout, commands, projections, the read API over HTTP and NATS. */
export type ReadHarness = {
  sys: AuthSystem;
  issuer: TestIssuer;
  database: Database;
  projections: ProjectionService;
  /** The live part (fan-out, typing, presence), active once started. */
  live: LiveFanout;
  api: ReadApi;
  store: EventStore;
  baseUrl: string;
  users: Record<TestUser, Actor>;
  /** Waits until every projection has applied the log up to `seq` (default: its end). */
  caughtUp(seq?: number): Promise<void>;
  /** A raw HTTP request (no token unless given), checked against the OpenAPI document. */
  fetchApi(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
};

/** Presence in tests: heartbeats every 200 ms, offline after 1 s of silence. */
export const TEST_PRESENCE = { heartbeatMs: 200, timeoutMs: 1000 } as const;

export async function startReadHarness(
  options: { queryRateLimit?: RateLimit; httpRateLimit?: RateLimit; pglite?: boolean } = {},
): Promise<ReadHarness> {
  const log = pino({ level: process.env["NATTER_TEST_LOG"] ?? "silent" });
  const issuer = await startTestIssuer();
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: "natter" });
  const sys = await startAuthSystem({ verify: (t) => verifier.verify(t), log });
  const database = await openTestDatabase({ pglite: options.pglite });
  const projectionsNc = await sys.service("projections");
  const projections = await startProjections(projectionsNc, database.db, { log, leaseMs: 2000, retryDelayMs: 20 });
  const live = await startLive(projectionsNc, {
    log,
    leaseMs: 2000,
    tasks: [
      (l) => startPresence(projectionsNc, { publishToRoom: l.publishToRoom, log, leaseMs: 2000, ...TEST_PRESENCE }),
    ],
  });
  await live.whenActive();
  const gateway = await sys.service("gateway");
  const store = new EventStore(gateway);
  const api = await startReadApi(gateway, database.db, store, {
    log,
    registry: new Registry(),
    verifier,
    identityNames: sys.identityNames,
    queryRateLimit: options.queryRateLimit ?? "off",
    httpRateLimit: options.httpRateLimit ?? "off",
    presenceTimeoutMs: TEST_PRESENCE.timeoutMs,
  });
  const server: Server = createServer((req, res) => {
    if (!api.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fetchApi = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${baseUrl}${path}`, init);
    const text = await res.text();
    const body = text === "" ? null : JSON.parse(text);
    validateResponse(init.method ?? "GET", path, res.status, body);
    return { status: res.status, body, headers: res.headers };
  };

  const users = {} as Record<TestUser, Actor>;
  for (const [name, roles] of Object.entries(USERS) as [TestUser, readonly string[]][]) {
    const id = userIdFromSub(issuer.subOf(name));
    const token = await issuer.token(name, [...roles], {}, { expiresInSec: 3600 });
    const nc = await sys.user(token, id);
    const auth = { authorization: `Bearer ${token}` };
    users[name] = {
      id,
      token,
      nc,
      cmd: (action, body, o = {}) => mustSend(nc, id, action, body, o),
      try: (action, body, o = {}) => sendCommand(nc, id, action, body, o),
      get: (path) => fetchApi(path, { headers: auth }),
      post: (path, body) =>
        fetchApi(path, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      async q(name, body = {}, o = {}) {
        const m = await nc.request(`${o.admin ? "adminq" : "q"}.${id}.${name}`, JSON.stringify(body), {
          timeout: 10_000,
        });
        const answer = m.json<{ ok: boolean }>();
        validateNatsAnswer(queryOfNatsName.get(name) ?? name, answer);
        return answer as never;
      },
    };
  }

  return {
    sys,
    issuer,
    database,
    projections,
    live,
    api,
    store,
    baseUrl,
    users,
    fetchApi,
    async caughtUp(seq) {
      const target = seq ?? (await store.lastSeq());
      for (const [name, projector] of projections.projectors) {
        const p = PROJECTIONS.get(name)!;
        const checkpoint = async () =>
          p.kind === "pg"
            ? ((await readCheckpoint(database.db, p.liveSchema, p.name))?.seq ?? 0)
            : await projector.storedCheckpoint();
        if (!(await waitForApplied(gateway, store, p, checkpoint, target, 15_000)))
          throw new Error(`projection ${name} did not reach ${target}`);
      }
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await api.drain();
      await live.stop();
      await projections.stop();
      await sys.stop();
      await database.close();
      await issuer.close();
    },
  };
}
