import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, inject, test } from "vitest";
import { portIsFree } from "./process.ts";
import { connectNats, EventStore } from "../streams/index.ts";
import { childEnv, freePort, runTsx, spawnTsx, type TsxChild } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { connect } from "@nats-io/transport-node";
import { decodeJwt } from "jose";
import { loadOrCreateAuthKeys, serviceInboxPrefix } from "../auth/index.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "natter-main-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `npm start`'s environment: nothing configured but the data dir and ports; the test's nats-server binary. */
function startEnv(dataDir: string, vars: Record<string, string>): NodeJS.ProcessEnv {
  return childEnv({ NATTER_DATA_DIR: dataDir, NATTER_NATS_SERVER: inject("natsServerBinary"), ...vars });
}

describe("npm start on embedded defaults", () => {
  test("comes up, answers /healthz and commands over the printed NATS URL, stops on SIGTERM with 0", async () => {
    const dataDir = await tempDataDir();
    const [port, natsPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    const natter: TsxChild = spawnTsx(
      "app/main.ts",
      [],
      startEnv(dataDir, {
        PORT: String(port),
        NATTER_NATS_PORT: String(natsPort),
        NATTER_NATS_WS_PORT: String(wsPort),
      }),
    );
    // SIGTERM, not SIGKILL: main stops its embedded nats-server on the way out.
    cleanups.push(() => natter.stop("SIGTERM"));

    await natter.waitForLine((l) => l === "natter is up", 30_000);
    const natsLine = await natter.waitForLine((l) => l.startsWith("  NATS "));
    const natsUrl = /nats:\/\/\S+/.exec(natsLine)?.[0];
    expect(natsUrl).toBe(`nats://127.0.0.1:${natsPort}`);
    expect(natter.lines).toContain(`  NATS WebSocket ws://localhost:${wsPort}`);
    expect(existsSync(join(dataDir, "nats", "jetstream"))).toBe(true);

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", nats: "connected" });

    // The whole path: the password grant at the development identity provider, NATS with the token.
    const issuerLine = await natter.waitForLine((l) => l.startsWith("  issuer "));
    const issuer = /http:\/\/\S+/.exec(issuerLine)![0];
    const token = async (username: string, password: string) => {
      const res = await fetch(`${issuer}/protocol/openid-connect/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", client_id: "natter-cli", username, password }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const aliceToken = await token("alice", "alice123");
    const alice = decodeJwt(aliceToken).sub!;
    const nc = await connect({
      servers: natsUrl!,
      token: aliceToken,
      inboxPrefix: `_INBOX.${alice}`,
      noAsyncTraces: true,
    });
    cleanups.push(() => nc.close());
    const created = await mustSend(nc, alice, "room.create", { name: "general", kind: "public" });
    const roomId = created.result["roomId"] as string;
    const posted = await mustSend(nc, alice, "msg.post", { roomId, body: "hello from npm start" });
    expect(posted.result["seq"]).toBe(posted.seq);

    // The read API on the same origin answers with the same token, and shows the post (read your writes).
    const page = await fetch(`http://127.0.0.1:${port}/api/rooms/${roomId}/messages?minSeq=${posted.seq}`, {
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    expect(page.status).toBe(200);
    expect(((await page.json()) as { messages: { body: string }[] }).messages.map((m) => m.body)).toEqual([
      "hello from npm start",
    ]);
    const viaNats = await nc.request(`q.${alice}.rooms`, "{}", { timeout: 5000 });
    expect(
      viaNats.json<{ ok: boolean; result: { rooms: { roomId: string }[] } }>().result.rooms.map((r) => r.roomId),
    ).toEqual([roomId]);

    // Without a token nothing connects; the replay service key from the data dir reads the log.
    await expect(connect({ servers: natsUrl!, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/);
    const keys = await loadOrCreateAuthKeys(join(dataDir, "auth", "nats-keys.json"));
    const replay = await connectNats(natsUrl!, {
      credentials: { seed: keys.services.replay.getSeed(), inboxPrefix: serviceInboxPrefix("replay") },
    });
    cleanups.push(() => replay.close());
    const events = await new EventStore(replay).readSubject("ev.>");
    // Her name, from her token, is recorded beside what she did, at her connect.
    expect(events.filter((e) => e.type !== "UserProfileUpdated").map((e) => [e.type, e.seq, e.actor])).toEqual([
      ["RoomCreated", created.seq, alice],
      ["MessagePosted", posted.seq, alice],
    ]);
    expect(events.filter((e) => e.type === "UserProfileUpdated").map((e) => e.event.data)).toEqual([
      { userId: alice, identityName: "alice" },
    ]);
    await nc.close();
    await replay.close();

    const exit = await natter.stop("SIGTERM");
    expect(exit, natter.stderr()).toEqual({ code: 0, signal: null });
    // Its embedded nats-server stopped with it.
    expect(await portIsFree(natsPort)).toBe(true);
  });

  test("a taken PORT makes it exit non-zero with a message naming PORT", async () => {
    const dataDir = await tempDataDir();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "0.0.0.0", resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as { port: number }).port;
    const [natsPort, wsPort] = [await freePort(), await freePort()];

    const r = await runTsx(
      "app/main.ts",
      [],
      startEnv(dataDir, {
        PORT: String(port),
        NATTER_NATS_PORT: String(natsPort),
        NATTER_NATS_WS_PORT: String(wsPort),
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(new RegExp(`port ${port} is taken: set PORT\\b`));
    expect(r.stdout).not.toContain("natter is up");
  });

  test("an invalid NATTER_RATE_LIMIT makes it exit non-zero with a message naming the variable", async () => {
    const dataDir = await tempDataDir();
    const r = await runTsx(
      "app/main.ts",
      [],
      startEnv(dataDir, { PORT: String(await freePort()), NATTER_RATE_LIMIT: "lots" }),
    );
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain("NATTER_RATE_LIMIT");
    expect(r.stderr).toContain('"lots"');
    expect(r.stdout).not.toContain("natter is up");
  });
});
