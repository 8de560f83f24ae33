import solid from "vite-plugin-solid";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Two cores: integration files each start their own nats-server; keep them from starving.
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      {
        test: {
          name: "node",
          include: [
            "{app,domain,streams,commands,projections,read-api,auth,replay,test}/**/*.test.ts",
            "web/e2e/**/*.e2e.test.ts",
          ],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The web client's unit tests: Solid compiled for the browser, in happy-dom.
        plugins: [solid()],
        test: {
          name: "web",
          environment: "happy-dom",
          include: ["web/src/**/*.unit.test.{ts,tsx}"],
          testTimeout: 10_000,
        },
      },
    ],
  },
});
