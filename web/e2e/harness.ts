import { existsSync } from "node:fs";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decodeJwt } from "jose";
import { userIdFromSub } from "../../domain/index.ts";
import {
  chromium,
  type Browser,
  type BrowserContext,
  type CDPSession,
  type Page,
  type WebSocketRoute,
} from "playwright-core";
import { inject } from "vitest";
import { childEnv, freePort, ROOT, spawnTsx, type TsxChild } from "../../test/childProcess.ts";
import { watchConsole } from "./consoleWatch.ts";

/** Debian's chromium (the project never downloads a browser). */
export const CHROMIUM = process.env["NATTER_CHROMIUM"] ?? "/usr/bin/chromium";
/** Without it the browser suites are skipped, as the test run says at its start (test/globalSetup.ts). */
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/** natter as `npm start` runs it, on embedded defaults, in a data dir of its own. */
export type App = {
  /** The one origin: web client, read API, identity provider. */
  readonly url: string;
  /** The same port on another loopback name: natter signs in alike at each. */
  at(host: "localhost" | "127.0.0.1" | "[::1]"): string;
  readonly natsUrl: string;
  /** Its NATTER_DATA_DIR (removed by stop). */
  readonly dataDir: string;
  readonly child: TsxChild;
  stop(): Promise<void>;
};

/** Builds the web client if its sources changed (what `npm start` does first). */
export async function buildWeb(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "build-web.mjs")], {
    cwd: ROOT,
    timeout: 180_000,
  });
}

/** Starts `npm start`'s main on free ports with a fresh data dir, nothing configured. */
export async function startApp(vars: Record<string, string> = {}): Promise<App> {
  const dataDir = await mkdtemp(join(tmpdir(), "natter-e2e-"));
  const [port, natsPort, wsPort, monitorPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child = spawnTsx(
    "app/main.ts",
    [],
    childEnv({
      NATTER_DATA_DIR: dataDir,
      PORT: String(port),
      NATTER_NATS_PORT: String(natsPort),
      NATTER_NATS_WS_PORT: String(wsPort),
      NATTER_NATS_MONITOR_PORT: String(monitorPort),
      NATTER_NATS_SERVER: inject("natsServerBinary"),
      LOG_LEVEL: "warn",
      ...vars,
    }),
  );
  await child.waitForLine((l) => l === "natter is up", 60_000);
  return {
    // localhost: the issuer's origin, where a script gets its token.
    url: `http://localhost:${port}`,
    at: (host) => `http://${host}:${port}`,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    dataDir,
    child,
    async stop() {
      await child.stop("SIGTERM");
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Headless chromium with the flags this machine's closed network needs. Every context it makes
 * (`newContext`, and `newPage`, which makes one) is watched from the start: a console error, an
 * uncaught error or a CSP violation in any of its pages fails the test (consoleWatch.ts).
 */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Playwright's Browser announces no new context, so the one way in that a test file cannot
  // bypass is the method itself.
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    await watchConsole(context);
    return context;
  };
  return browser;
}

/** Passwords of the development identity provider's users. */
export const PASSWORDS = { alice: "alice123", bob: "bob123", charlie: "charlie123" } as const;

/**
 * `user` on NATS as a script would be: a token by the password grant (client `natter-cli`), and a
 * connection with it on the user's own inbox prefix. Close it when done.
 */
export async function natsAs(app: App, user: keyof typeof PASSWORDS): Promise<{ nc: NatsConnection; userId: string }> {
  const res = await fetch(`${app.url}/realms/natter/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "password",
      client_id: "natter-cli",
      username: user,
      password: PASSWORDS[user],
    }),
  });
  const token = ((await res.json()) as { access_token: string }).access_token;
  const userId = userIdFromSub(decodeJwt(token).sub!);
  return { nc: await connect({ servers: app.natsUrl, token, inboxPrefix: `_INBOX.${userId}` }), userId };
}

/**
 * A browser context signed in as `user` through the login page: opens the web client, presses
 * Sign in, fills the identity provider's form, and waits until the client is back and signed in.
 */
export async function signIn(
  browser: Browser,
  app: App,
  user: keyof typeof PASSWORDS,
  options: {
    viewport?: { width: number; height: number };
    colorScheme?: "light" | "dark";
    prepare?: (context: BrowserContext) => Promise<void>;
    /** Where the page opens natter (default `app.url`). */
    origin?: string;
  } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const origin = options.origin ?? app.url;
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 800 },
    colorScheme: options.colorScheme ?? "light",
  });
  await options.prepare?.(context);
  const page = await context.newPage();
  await page.goto(origin);
  await page.getByRole("button", { name: /sign in/i }).click();
  await page.locator("#username").fill(user);
  await page.locator("#password").fill(PASSWORDS[user]);
  await page.locator("#password").press("Enter");
  await page.waitForURL(
    (u) =>
      u.origin === new URL(origin).origin && !u.pathname.startsWith("/realms") && !u.pathname.startsWith("/callback"),
    { timeout: 30_000 },
  );
  await page.locator('[data-testid="connection-state"][data-state="online"]').waitFor({ timeout: 30_000 });
  return { context, page };
}

/**
 * A network cut for one browser context: HTTP through the DevTools protocol's offline emulation,
 * and the NATS WebSocket (which Chromium's offline emulation leaves open) closed and refused while
 * cut. Install it (`prepare` of signIn) before the page opens its WebSocket.
 */
export async function networkSwitch(
  context: BrowserContext,
): Promise<{ cut(page: Page): Promise<void>; restore(page: Page): Promise<void> }> {
  let down = false;
  const open = new Set<WebSocketRoute>();
  await context.routeWebSocket(/.*/, (ws) => {
    if (down) {
      void ws.close().catch(() => undefined);
      return;
    }
    ws.connectToServer();
    open.add(ws);
    ws.onClose(() => open.delete(ws));
  });
  // One DevTools session per page: the emulation belongs to the session that set it.
  const sessions = new Map<Page, CDPSession>();
  const offline = async (page: Page, value: boolean) => {
    let cdp = sessions.get(page);
    if (cdp === undefined) {
      cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      sessions.set(page, cdp);
    }
    await cdp.send("Network.emulateNetworkConditions", {
      offline: value,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
  };
  return {
    async cut(page) {
      down = true;
      await offline(page, true);
      for (const ws of [...open]) await ws.close().catch(() => undefined);
    },
    async restore(page) {
      down = false;
      await offline(page, false);
    },
  };
}
