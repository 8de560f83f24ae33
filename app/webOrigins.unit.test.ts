import { expect, test } from "vitest";
import { defaultWsUrl, webOrigins } from "./webOrigins.ts";

test("loopback only by default: localhost first, then 127.0.0.1 and [::1], each with / and /callback", () => {
  const o = webOrigins(8080);
  expect(o.primary).toBe("http://localhost:8080");
  expect(o.all).toEqual(["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]);
  expect(o.issuer).toBe("http://localhost:8080/realms/natter");
  expect(o.redirectUris).toEqual([
    "http://localhost:8080/",
    "http://localhost:8080/callback",
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/callback",
    "http://[::1]:8080/",
    "http://[::1]:8080/callback",
    "http://localhost:5173/",
    "http://localhost:5173/callback",
  ]);
});

test("a public URL comes first, names the issuer, and adds its own redirect URIs; loopback stays", () => {
  const o = webOrigins(8080, "https://chat.example.com");
  expect(o.primary).toBe("https://chat.example.com");
  expect(o.issuer).toBe("https://chat.example.com/realms/natter");
  expect(o.all).toEqual([
    "https://chat.example.com",
    "http://localhost:8080",
    "http://127.0.0.1:8080",
    "http://[::1]:8080",
  ]);
  expect(o.redirectUris.slice(0, 2)).toEqual(["https://chat.example.com/", "https://chat.example.com/callback"]);
  // The same origin as a loopback one is not listed twice.
  expect(webOrigins(8080, "http://127.0.0.1:8080").all).toEqual([
    "http://127.0.0.1:8080",
    "http://localhost:8080",
    "http://[::1]:8080",
  ]);
});

test("the NATS WebSocket browsers are given: the public host on the embedded port, else localhost", () => {
  expect(defaultWsUrl(9222)).toBe("ws://localhost:9222");
  expect(defaultWsUrl(9222, "http://natter.lan:8080")).toBe("ws://natter.lan:9222");
  expect(defaultWsUrl(9222, "https://chat.example.com")).toBe("wss://chat.example.com:9222");
});
