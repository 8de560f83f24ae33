import { expect, test } from "vitest";
import { clientAddress } from "./service.ts";

const req = (remoteAddress: string, xff?: string | string[]) => ({
  socket: { remoteAddress },
  headers: xff === undefined ? {} : { "x-forwarded-for": xff },
});

test("without trusted proxies the socket's address counts and X-Forwarded-For is ignored", () => {
  expect(clientAddress(req("203.0.113.5", "198.51.100.1"), new Set())).toBe("203.0.113.5");
  expect(clientAddress(req("::ffff:203.0.113.5"), new Set())).toBe("203.0.113.5");
});

test("from a trusted proxy: the nearest address that is not a trusted proxy, read from the right", () => {
  const trusted = new Set(["10.0.0.2", "10.0.0.3"]);
  expect(clientAddress(req("10.0.0.2", "198.51.100.1"), trusted)).toBe("198.51.100.1");
  expect(clientAddress(req("::ffff:10.0.0.2", "198.51.100.1, 10.0.0.3"), trusted)).toBe("198.51.100.1");
  // What the client wrote on the left does not choose its bucket.
  expect(clientAddress(req("10.0.0.2", "1.2.3.4, 198.51.100.1"), trusted)).toBe("198.51.100.1");
  expect(clientAddress(req("10.0.0.2", ["1.2.3.4", "198.51.100.1"]), trusted)).toBe("198.51.100.1");
  // A trusted proxy that forwards nothing is its own client.
  expect(clientAddress(req("10.0.0.2"), trusted)).toBe("10.0.0.2");
  expect(clientAddress(req("10.0.0.2", "10.0.0.3"), trusted)).toBe("10.0.0.3");
  // Not from a trusted proxy: the header is the client's own word, ignored.
  expect(clientAddress(req("203.0.113.5", "10.0.0.2"), trusted)).toBe("203.0.113.5");
});
