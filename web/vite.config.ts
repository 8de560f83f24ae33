import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import solid from "vite-plugin-solid";

/**
 * The web client's build (`npm run web:build`, into web/dist, served by `npm start`) and its dev
 * server with hot reload (`npm run web:dev`), which proxies the read API, the identity provider
 * and /config.json to a natter running beside it (`npm start`, `NATTER_URL`, default
 * http://localhost:8080), and NATS over WebSocket through `/nats-ws` (`NATTER_NATS_WS_URL`,
 * default ws://localhost:9222) so that the browser talks to one origin.
 */
const natter = process.env["NATTER_URL"] ?? "http://localhost:8080";
const natsWs = process.env["NATTER_NATS_WS_URL"] ?? `ws://localhost:${process.env["NATTER_NATS_WS_PORT"] ?? "9222"}`;

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [solid(), withoutNkeys(), devBeside()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": { target: natter },
      "/realms": { target: natter },
      // NATS accepts browsers from natter's own origin only: present that origin.
      "/nats-ws": { target: natsWs, ws: true, rewrite: () => "/", headers: { origin: natter } },
    },
  },
});

/**
 * The browser signs in to NATS with a token only: nats-core's nkey authentication (and with it
 * @nats-io/nkeys and tweetnacl, a fifth of the bundle) is left out; using it throws.
 */
function withoutNkeys(): Plugin {
  const id = "\0natter-no-nkeys";
  return {
    name: "natter-without-nkeys",
    enforce: "pre",
    resolveId: (source) => (source === "@nats-io/nkeys" ? id : null),
    load: (source) =>
      source === id
        ? 'const no = () => { throw new Error("nkey authentication is not part of the web client"); };\n' +
          "export const fromSeed = no, fromPublic = no, createUser = no, createAccount = no, createOperator = no, createServer = no, createCluster = no, createCurve = no, fromCurveSeed = no, encode = no, decode = no;\n"
        : null,
  };
}

/** The dev server's /config.json (natter's, with NATS reached through the proxy) and its banner. */
function devBeside(): Plugin {
  return {
    name: "natter-dev-beside",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use("/config.json", (req, res) => {
        fetch(`${natter}/config.json`)
          .then(async (r) => {
            if (!r.ok) throw new Error(`${natter}/config.json answered ${r.status}`);
            const config = (await r.json()) as Record<string, unknown>;
            const host = req.headers.host ?? "localhost:5173";
            res.setHeader("content-type", "application/json");
            res.setHeader("cache-control", "no-store");
            res.end(JSON.stringify({ ...config, natsWsUrl: `ws://${host}/nats-ws` }));
          })
          .catch((err: unknown) => {
            res.statusCode = 502;
            res.setHeader("content-type", "text/plain; charset=utf-8");
            res.end(`natter is not reachable at ${natter} (${String(err)}): run \`npm start\` beside the dev server\n`);
          });
      });
      const printUrls = server.printUrls.bind(server);
      server.printUrls = () => {
        printUrls();
        server.config.logger.info(
          `\n  natter web dev server: run \`npm start\` beside it (API, identity provider and NATS at ${natter}).\n` +
            `  Sign-in from this origin needs it among natter-web's redirect URIs.\n`,
        );
      };
    },
  };
}
