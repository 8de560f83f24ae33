// Builds the web client (web/ → web/dist) when it is missing or older than its sources; `npm start`
// runs it first, so a fresh clone needs nothing but `npm ci` and `npm start`.
// Usage: node scripts/build-web.mjs [--force]
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const web = join(root, "web");
const dist = join(web, "dist", "index.html");

/** The newest modification time under `path` (files only). */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = 0;
  for (const name of readdirSync(path)) {
    if (name === "dist" || name === "node_modules" || name === "e2e") continue;
    t = Math.max(t, newest(join(path, name)));
  }
  return t;
}

const force = process.argv.includes("--force");
if (!force && existsSync(dist) && statSync(dist).mtimeMs >= newest(web)) {
  process.exit(0);
}
console.log("building the web client (web/ → web/dist) …");
const { build } = await import("vite");
try {
  await build({ configFile: join(web, "vite.config.ts"), logLevel: "warn" });
} catch (err) {
  console.error(`error: the web client did not build: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
console.log("web client built");
