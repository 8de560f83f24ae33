/**
 * `npm run bench -- web`: the web client's weight and the timeline's speed.
 *
 * 1. The bundle: `web/vite.config.ts` built (vite's JS API, into a temporary folder, so web/dist is
 *    left alone), each output file's size and gzip size (node:zlib, level 6), and the total of what
 *    a browser downloads (source maps apart).
 * 2. A room of 10,000 messages: bench/web/ (the real Timeline, generated messages, a trivial escaper
 *    as renderBody) built and served on 127.0.0.1, opened in Debian's chromium (new headless) with
 *    playwright-core: time to first render (navigation start → the first message element in the DOM,
 *    from performance marks; median of `--loads` page loads), then a scroll from the bottom to the top
 *    in `--steps` jumps counting the DOM nodes inside the timeline after each (target: max < 2,000),
 *    then a glide at reading speed and a fast scroll through the whole room, one scroll per frame,
 *    with the requestAnimationFrame deltas (frame time p50/p95), then behaviour checks (follows new
 *    messages at the bottom, stays when scrolled up, jump to latest with its count, jumpTo, arrow
 *    keys). Last, the same room opened with its newest `--page` messages and scrolled back to the
 *    first through loadOlder: how far the text being read moves at each prepend (target ≤ 2 px).
 */
import { createServer, type Server } from "node:http";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium, type Browser } from "playwright-core";
import { build } from "vite";
import solid from "vite-plugin-solid";
import { fmt, ms, parseOptions, percentile, ROOT, say, verdict, type Suite } from "./lib.ts";

const defaults = {
  messages: 10_000,
  steps: 200,
  loads: 5,
  page: 100,
  skipBundle: false,
  chromium: "/usr/bin/chromium",
  strict: false,
};
const MAX_NODES = 2_000;
/** How far the text being read may move when a page is prepended above it (sub-pixel rounding). */
const MAX_DRIFT_PX = 2;
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Every file under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

type BundleFile = { file: string; bytes: number; gzip: number };

/** Builds the web client into a temporary folder; the sizes of what came out. */
async function bundleSizes(): Promise<BundleFile[] | string> {
  const config = join(ROOT, "web", "vite.config.ts");
  const entry = join(ROOT, "web", "src", "main.tsx");
  for (const needed of [config, entry]) {
    if (!(await stat(needed).catch(() => null))) return `${relative(ROOT, needed)} does not exist yet`;
  }
  const out = await mkdtemp(join(tmpdir(), "natter-bench-web-"));
  try {
    await build({ configFile: config, logLevel: "warn", build: { outDir: out, emptyOutDir: true } });
    const files: BundleFile[] = [];
    for (const file of await filesUnder(out)) {
      const data = await readFile(join(out, file));
      files.push({ file, bytes: data.length, gzip: gzipSync(data).length });
    }
    return files;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".map": "application/json",
};

/** Serves a folder on 127.0.0.1 at a free port. */
async function serve(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = join(dir, path === "/" ? "index.html" : path);
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (data) =>
        res
          .writeHead(200, {
            "content-type": TYPES[extname(file)] ?? "application/octet-stream",
            "cache-control": "no-store",
          })
          .end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the bench page server has no port");
  return { url: `http://127.0.0.1:${address.port}`, server };
}

type Marks = { data: number; firstMessage: number; firstFrame: number };
type Steps = { counts: number[]; reachedTop: boolean; scrollTop: number };
type Glide = { deltas: number[]; counts: number[]; scrollTop: number; scrollHeight: number };
type History = {
  loads: number;
  drifts: { painted: number; settled: number }[];
  messages: number;
  maxNodes: number;
  hasOlder: boolean;
};
type Checks = Record<string, boolean>;
/**
 * What page.evaluate callbacks see of the bench page (bench/web/main.jsx puts `bench` there): this
 * program has no DOM types, and a callback runs in the page, so it names nothing of this module.
 */
type Page = {
  bench: {
    steps(n: number): Promise<Steps>;
    glide(px: number, frames: number): Promise<Glide>;
    toBottom(): Promise<number>;
    history(): Promise<History>;
    checks(): Promise<Checks>;
  };
  document: {
    querySelectorAll(selector: string): { length: number };
    querySelector(selector: string): { scrollHeight: number };
  };
};

const stats = (xs: number[]) => {
  const sorted = Float64Array.from(xs).sort();
  const sum = xs.reduce((a, b) => a + b, 0);
  return {
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sum / xs.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
  };
};

function frameLine(label: string, g: Glide): string {
  const d = stats(g.deltas);
  const long = g.deltas.filter((x) => x > 50).length;
  return `  ${label.padEnd(34)} ${g.deltas.length} frames: frame time p50 ${ms(d.p50)}, p95 ${ms(d.p95)}, max ${ms(d.max)}, ${long} over 50 ms; nodes max ${fmt(Math.max(...g.counts))}`;
}

/** The timeline page's marks for one load, in ms since navigation start. */
const MARKS = `({ data: performance.getEntriesByName("bench-data")[0].startTime,
  firstMessage: performance.getEntriesByName("first-message")[0].startTime,
  firstFrame: performance.getEntriesByName("first-frame")[0].startTime })`;

async function timelineRoom(o: typeof defaults): Promise<boolean> {
  const out = await mkdtemp(join(tmpdir(), "natter-bench-timeline-"));
  let browser: Browser | undefined;
  let server: Server | undefined;
  try {
    say("building the timeline bench page (bench/web)");
    await build({
      root: join(ROOT, "bench", "web"),
      configFile: false,
      logLevel: "warn",
      plugins: [solid()],
      build: { outDir: out, emptyOutDir: true, target: "es2022" },
    });
    const served = await serve(out);
    server = served.server;
    browser = await chromium.launch({ executablePath: o.chromium, headless: false, args: CHROMIUM_ARGS });
    const b = browser;
    const url = `${served.url}/?n=${o.messages}`;
    say(`chromium ${b.version()}: ${url}`);
    const open = async (query: string) => {
      const context = await b.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(url + query);
      await page.waitForFunction(() => performance.getEntriesByName("first-frame").length > 0, undefined, {
        timeout: 60_000,
      });
      return { context, page };
    };

    const loads: Marks[] = [];
    for (let i = 1; i < Math.max(1, o.loads); i++) {
      const { context, page } = await open("");
      // A string: tsx would wrap a helper in this callback in a function the page does not have.
      loads.push(await page.evaluate<Marks>(MARKS));
      await context.close();
    }
    const { context, page } = await open("");
    loads.push(await page.evaluate<Marks>(MARKS));
    const rendered = await page.evaluate(
      () => (globalThis as unknown as Page).document.querySelectorAll("[data-message-id]").length,
    );
    const atBottom = await page.evaluate(() => (globalThis as unknown as Page).bench.toBottom());
    say(`scrolling from the bottom to the top in ${o.steps} steps`);
    const steps = await page.evaluate((n) => (globalThis as unknown as Page).bench.steps(n), o.steps);
    say("gliding down at reading speed, then through the whole room");
    const reading = await page.evaluate(() => (globalThis as unknown as Page).bench.glide(40, 300));
    const height = await page.evaluate(
      () => (globalThis as unknown as Page).document.querySelector(".tl-scroll").scrollHeight,
    );
    const fast = await page.evaluate(
      (px) => (globalThis as unknown as Page).bench.glide(px, 600),
      Math.ceil(height / 600),
    );
    say("behaviour at and away from the bottom");
    const checks = await page.evaluate(() => (globalThis as unknown as Page).bench.checks());
    await context.close();
    say(`scrolling back through the room in pages of ${o.page} (loadOlder at the top)`);
    const paged = await open(`&page=${o.page}`);
    const history = await paged.page.evaluate(() => (globalThis as unknown as Page).bench.history());
    await paged.context.close();

    const first = stats(loads.map((l) => l.firstMessage));
    const render = stats(loads.map((l) => l.firstMessage - l.data));
    const frame = stats(loads.map((l) => l.firstFrame));
    const nodes = stats(steps.counts);
    const allFrames = stats([...reading.deltas, ...fast.deltas]);
    const drift = (k: "painted" | "settled") => Math.max(...history.drifts.map((d) => Math.abs(d[k])));
    console.log("");
    console.log(
      `timeline: ${fmt(o.messages)} messages, chromium ${b.version()} (new headless, no GPU), viewport 1280×800`,
    );
    console.log(
      `  time to first render (navigation start → first message element), median of ${loads.length} loads: ${ms(first.p50)} (min ${ms(first.min)}, max ${ms(first.max)})`,
    );
    console.log(
      `    of which the Timeline's own render (data ready → first message): median ${ms(render.p50)}; first frame at ${ms(frame.p50)}`,
    );
    console.log(
      `  message elements rendered at the bottom: ${rendered}; DOM nodes in the timeline there: ${fmt(atBottom)}`,
    );
    console.log(
      `  scroll bottom → top in ${o.steps} steps: DOM nodes max ${fmt(nodes.max)}, min ${fmt(nodes.min)}, mean ${fmt(nodes.mean)}; reached the first message: ${steps.reachedTop ? "yes" : "NO"}`,
    );
    console.log(frameLine("glide at reading speed (40 px/frame)", reading));
    console.log(frameLine(`whole room in 600 frames (${Math.ceil(height / 600)} px/frame)`, fast));
    console.log(`  frame time p95 while scrolling (both glides): ${ms(allFrames.p95)}`);
    console.log(
      `  paged history: ${history.loads} loadOlder calls, ${fmt(history.messages)} messages at the end, DOM nodes ${fmt(history.maxNodes)}; ` +
        `the text being read moved at most ${drift("painted").toFixed(1)} px in the first frame after a prepend, ${drift("settled").toFixed(1)} px settled`,
    );
    const failed = Object.entries(checks).filter(([, v]) => !v);
    console.log(
      `  behaviour: ${Object.entries(checks)
        .map(([k, v]) => `${k} ${v ? "ok" : "FAILED"}`)
        .join(", ")}`,
    );
    const nodesOk =
      nodes.max < MAX_NODES &&
      Math.max(...reading.counts, ...fast.counts, history.maxNodes) < MAX_NODES &&
      steps.reachedTop;
    const pagedOk = !history.hasOlder && drift("painted") <= MAX_DRIFT_PX && drift("settled") <= MAX_DRIFT_PX;
    console.log(`  max nodes < ${fmt(MAX_NODES)}: ${verdict(nodesOk)}`);
    console.log(`  prepends keep the text being read within ${MAX_DRIFT_PX} px: ${verdict(pagedOk)}`);
    console.log(
      `  behaviour checks: ${verdict(failed.length === 0)}${failed.length ? ` (failed: ${failed.map(([k]) => k).join(", ")})` : ""}`,
    );
    return nodesOk && pagedOk && failed.length === 0;
  } finally {
    await browser?.close();
    server?.close();
    await rm(out, { recursive: true, force: true });
  }
}

export const webSuite: Suite = {
  about: "web client: bundle size (gzip), 10k-message timeline first render, DOM nodes and frame times while scrolling",
  usage: `usage: npm run bench -- web [--messages N] [--steps N] [--loads N] [--page N] [--skip-bundle] [--chromium PATH] [--strict]

  --messages     messages in the timeline room (default ${fmt(defaults.messages)})
  --steps        jumps of the bottom-to-top scroll (default ${defaults.steps})
  --loads        page loads for the time to first render, median (default ${defaults.loads})
  --page         page size of the paged scroll back through the room (default ${defaults.page})
  --skip-bundle  do not build web/ for the bundle sizes
  --chromium     the browser (default ${defaults.chromium})
  --strict       exit 1 when a target is missed`,
  async run(args) {
    const o = parseOptions(args, defaults);
    if (!o.skipBundle) {
      say("building web/ (vite build --config web/vite.config.ts, into a temporary folder)");
      const files = await bundleSizes();
      console.log("");
      if (typeof files === "string") console.log(`bundle: skipped, ${files}`);
      else {
        console.log("bundle (vite build of web/):");
        for (const f of files)
          console.log(`  ${f.file.padEnd(40)} ${fmt(f.bytes).padStart(10)} B   gzip ${fmt(f.gzip).padStart(9)} B`);
        const shipped = files.filter((f) => !f.file.endsWith(".map"));
        const sum = (k: "bytes" | "gzip") => shipped.reduce((a, f) => a + f[k], 0);
        console.log(
          `  total without source maps: ${fmt(sum("bytes"))} B, gzip ${fmt(sum("gzip"))} B (${(sum("gzip") / 1024).toFixed(1)} KiB)`,
        );
      }
    }
    const ok = await timelineRoom(o);
    return o.strict && !ok ? 1 : 0;
  },
};
