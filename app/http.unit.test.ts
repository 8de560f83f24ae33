import type { IncomingMessage } from "node:http";
import { expect, test } from "vitest";
import { mayReadMetrics } from "./http.ts";

const request = (remoteAddress: string, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;
const TOKEN = "t".repeat(32);

test("/metrics answers a loopback peer that forwards nobody, and anyone else only with the token", () => {
  for (const local of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.8.9.1"])
    expect(mayReadMetrics(request(local), undefined), local).toBe(true);
  for (const remote of ["10.0.0.5", "203.0.113.9", "::ffff:10.0.0.5", "fe80::1", "2001:db8::1", "::ffff:7f00:1x"])
    expect(mayReadMetrics(request(remote), undefined), remote).toBe(false);
  // A reverse proxy on this machine forwards other people's requests: they are not this machine.
  expect(mayReadMetrics(request("127.0.0.1", { "x-forwarded-for": "203.0.113.9" }), undefined)).toBe(false);
  expect(mayReadMetrics(request("127.0.0.1", { forwarded: "for=203.0.113.9" }), undefined)).toBe(false);
  // The token opens it from anywhere; a wrong one, one of another length or another scheme does not.
  expect(mayReadMetrics(request("203.0.113.9", { authorization: `Bearer ${TOKEN}` }), TOKEN)).toBe(true);
  expect(mayReadMetrics(request("203.0.113.9", { authorization: `Bearer ${"u".repeat(32)}` }), TOKEN)).toBe(false);
  expect(mayReadMetrics(request("203.0.113.9", { authorization: `Bearer ${TOKEN}x` }), TOKEN)).toBe(false);
  expect(mayReadMetrics(request("203.0.113.9", { authorization: `Basic ${TOKEN}` }), TOKEN)).toBe(false);
  expect(mayReadMetrics(request("203.0.113.9", { authorization: `Bearer ${TOKEN}` }), undefined)).toBe(false);
});
