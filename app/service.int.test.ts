import { describe, expect, test } from "vitest";
import { childEnv, runTsx } from "../test/childProcess.ts";

// `npm run service -- <part>`: what it says and how it exits before it connects anywhere.
describe("service.ts", () => {
  test("--help exits 0 and lists the commands part", async () => {
    const r = await runTsx("app/service.ts", ["--help"], childEnv());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("usage: npm run service -- <part>");
    expect(r.stdout).toMatch(/^\s+commands\s+the command service/m);
  });

  test("no part exits 2 with the usage", async () => {
    const r = await runTsx("app/service.ts", [], childEnv());
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("usage: npm run service -- <part>");
  });

  test("an unknown part exits 2 and names it", async () => {
    const r = await runTsx("app/service.ts", ["bogus"], childEnv({ NATS_URL: "nats://127.0.0.1:1" }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown part "bogus"');
    expect(r.stderr).toContain("commands");
  });

  test("a part without NATS_URL exits 2 with a message naming NATS_URL", async () => {
    const r = await runTsx("app/service.ts", ["commands"], childEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NATS_URL is not set/);
  });

  test("a bad configuration variable exits 2 naming it", async () => {
    const r = await runTsx(
      "app/service.ts",
      ["commands"],
      childEnv({ NATS_URL: "nats://127.0.0.1:1", NATTER_RATE_LIMIT: "lots" }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("NATTER_RATE_LIMIT");
  });
});
