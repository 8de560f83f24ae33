import { expect, test } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

test("defaults: embedded everything, port 8080, rate limit 30/10", () => {
  const c = loadConfig({});
  expect(c).toMatchObject({
    natsUrl: undefined,
    databaseUrl: undefined,
    oidcIssuer: undefined,
    port: 8080,
    natsPort: 4222,
    natsWsPort: 9222,
    rateLimit: { burst: 30, perSecond: 10 },
    streamReplicas: 1,
    logLevel: "info",
  });
  expect(c.dataDir).toMatch(/\/data$/);
  expect(Object.isFrozen(c)).toBe(true);
});

test("every bad variable is named at once", () => {
  const err = (() => {
    try {
      loadConfig({
        PORT: "eighty",
        NATS_URL: "http://x",
        NATTER_RATE_LIMIT: "lots",
        NATTER_NATS_PORT: "70000",
        DATABASE_URL: "not a url",
        LOG_LEVEL: "loud",
      });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  expect(err).toBeInstanceOf(ConfigError);
  const problems = (err as ConfigError).problems.join("\n");
  for (const name of ["PORT", "NATS_URL", "NATTER_RATE_LIMIT", "NATTER_NATS_PORT", "DATABASE_URL", "LOG_LEVEL"])
    expect(problems).toContain(`${name}:`);
  expect((err as ConfigError).problems).toHaveLength(6);
});

test("values are taken as given", () => {
  const c = loadConfig({
    NATS_URL: "nats://a:4222,nats://b:4222",
    NATTER_RATE_LIMIT: "off",
    PORT: "9000",
    NATTER_DATA_DIR: "/tmp/natter-x",
  });
  expect(c).toMatchObject({
    natsUrl: "nats://a:4222,nats://b:4222",
    rateLimit: "off",
    port: 9000,
    dataDir: "/tmp/natter-x",
  });
});

test("the read side's limits and presence timing", () => {
  expect(loadConfig({})).toMatchObject({
    queryRateLimit: { burst: 60, perSecond: 30 },
    httpRateLimit: { burst: 120, perSecond: 60 },
    presenceHeartbeatMs: 10_000,
    presenceTimeoutMs: 30_000,
  });
  expect(
    loadConfig({
      NATTER_QUERY_RATE_LIMIT: "off",
      NATTER_HTTP_RATE_LIMIT: "10/5",
      NATTER_PRESENCE_TIMEOUT_MS: "5000",
      NATTER_PRESENCE_HEARTBEAT_MS: "1000",
    }),
  ).toMatchObject({
    queryRateLimit: "off",
    httpRateLimit: { burst: 10, perSecond: 5 },
    presenceTimeoutMs: 5000,
    presenceHeartbeatMs: 1000,
  });
  // A timeout no longer than the heartbeat would flap every connection offline.
  expect(() => loadConfig({ NATTER_PRESENCE_TIMEOUT_MS: "1000", NATTER_PRESENCE_HEARTBEAT_MS: "1000" })).toThrow(
    /NATTER_PRESENCE_TIMEOUT_MS: 1000 must be longer than NATTER_PRESENCE_HEARTBEAT_MS/,
  );
  expect(() => loadConfig({ NATTER_QUERY_RATE_LIMIT: "fast" })).toThrow(/NATTER_QUERY_RATE_LIMIT:/);
});

test("the read API's timeline cache: on by default, 0 turns it off, nonsense is refused", () => {
  expect(loadConfig({}).readCacheEntries).toBe(50_000);
  expect(loadConfig({ NATTER_READ_CACHE_ENTRIES: "0" }).readCacheEntries).toBe(0);
  expect(() => loadConfig({ NATTER_READ_CACHE_ENTRIES: "lots" })).toThrow(
    /NATTER_READ_CACHE_ENTRIES: "lots" must be a whole number from 0/,
  );
  expect(() => loadConfig({ NATTER_READ_CACHE_ENTRIES: "-1" })).toThrow(/NATTER_READ_CACHE_ENTRIES:/);
  expect(loadConfig({}).readCacheMb).toBe(128);
  expect(loadConfig({ NATTER_READ_CACHE_MB: "16" }).readCacheMb).toBe(16);
  expect(() => loadConfig({ NATTER_READ_CACHE_MB: "0" })).toThrow(
    /NATTER_READ_CACHE_MB: "0" must be a whole number of MiB from 1/,
  );
  expect(() => loadConfig({ NATTER_READ_CACHE_MB: "1.5" })).toThrow(/NATTER_READ_CACHE_MB:/);
});

test("trusted proxies: a list of addresses, anything else refused", () => {
  expect(loadConfig({}).trustedProxies).toEqual([]);
  expect(loadConfig({ NATTER_TRUSTED_PROXIES: "10.0.0.2, ::1" }).trustedProxies).toEqual(["10.0.0.2", "::1"]);
  expect(() => loadConfig({ NATTER_TRUSTED_PROXIES: "10.0.0.2,proxy.local" })).toThrow(
    /NATTER_TRUSTED_PROXIES: "proxy.local" not an IP address/,
  );
});

test("the HTTP port listens on loopback unless NATTER_HTTP_HOST opens it; /metrics takes a token; presence caps connections", () => {
  const defaults = loadConfig({});
  expect(defaults.httpHosts).toEqual(["127.0.0.1", "::1"]);
  expect(defaults.metricsToken).toBeUndefined();
  expect(defaults.presenceMaxConnections).toBe(20);
  const open = loadConfig({
    NATTER_HTTP_HOST: "0.0.0.0",
    NATTER_METRICS_TOKEN: "a".repeat(32),
    NATTER_PRESENCE_MAX_CONNECTIONS: "5",
  });
  expect(open.httpHosts).toEqual(["0.0.0.0"]);
  expect(open.metricsToken).toBe("a".repeat(32));
  expect(open.presenceMaxConnections).toBe(5);
  expect(() => loadConfig({ NATTER_HTTP_HOST: "example.org" })).toThrow(/NATTER_HTTP_HOST: "example.org"/);
  expect(() => loadConfig({ NATTER_METRICS_TOKEN: "short" })).toThrow(/NATTER_METRICS_TOKEN/);
  expect(() => loadConfig({ NATTER_PRESENCE_MAX_CONNECTIONS: "0" })).toThrow(/NATTER_PRESENCE_MAX_CONNECTIONS: "0"/);
});

test("NATTER_PUBLIC_URL: an http(s) origin, kept without its trailing slash; a path, query or other scheme is refused", () => {
  expect(loadConfig({}).publicUrl).toBeUndefined();
  expect(loadConfig({ NATTER_PUBLIC_URL: "https://chat.example.com/" }).publicUrl).toBe("https://chat.example.com");
  expect(loadConfig({ NATTER_PUBLIC_URL: "http://natter.lan:8080" }).publicUrl).toBe("http://natter.lan:8080");
  expect(() => loadConfig({ NATTER_PUBLIC_URL: "https://chat.example.com/natter" })).toThrow(
    /NATTER_PUBLIC_URL: .* must be an origin only/,
  );
  expect(() => loadConfig({ NATTER_PUBLIC_URL: "https://chat.example.com/?x=1" })).toThrow(/NATTER_PUBLIC_URL:/);
  expect(() => loadConfig({ NATTER_PUBLIC_URL: "ftp://chat.example.com" })).toThrow(
    /NATTER_PUBLIC_URL: .* must use http: or https:/,
  );
  expect(() => loadConfig({ NATTER_PUBLIC_URL: "chat.example.com" })).toThrow(/NATTER_PUBLIC_URL: .* is not a URL/);
});

test("the embedded server's ports remember whether they were set: a set port must be free, a default one may move", () => {
  expect(loadConfig({}).portsSet).toEqual({ natsPort: false, natsWsPort: false, natsMonitorPort: false });
  expect(loadConfig({ NATTER_NATS_PORT: "4333", NATTER_NATS_MONITOR_PORT: "8333" }).portsSet).toEqual({
    natsPort: true,
    natsWsPort: false,
    natsMonitorPort: true,
  });
});
