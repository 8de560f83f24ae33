import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{domain,streams,commands,projections,read-api,auth,replay,test}/**/*.test.ts", "*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: integration files each start their own nats-server; keep them from starving.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
