import type { BrowserContext } from "playwright-core";
import { afterAll, afterEach } from "vitest";

/**
 * Every page of the browser tests must keep a clean console: a console error, an uncaught error
 * or a Content-Security-Policy violation in any page of any watched context fails the test during
 * which it happened. The harness watches every context its browsers make (launchBrowser), so a
 * test file gets this by using the harness; the hooks at the end of this module do the checking.
 */

/** What a watched page did wrong since the last check, one line each, with the page's URL. */
const problems: string[] = [];
const contexts = new Set<BrowserContext>();

/** A violation as the page's `securitypolicyviolation` event describes it. */
type Violation = {
  directive: string;
  disposition: string;
  blocked: string;
  source: string;
  line: number;
  column: number;
  sample: string;
};

const BINDING = "__natterCspViolation";

/**
 * Records, from now on, the console errors, uncaught errors and CSP violations of every page of
 * `context`, the pages it opens later and every document they navigate to included.
 */
export async function watchConsole(context: BrowserContext): Promise<void> {
  contexts.add(context);
  context.on("close", () => contexts.delete(context));
  context.on("console", (message) => {
    if (message.type() !== "error") return;
    const at = message.location();
    problems.push(
      `${message.page()?.url() ?? "(no page)"}: console error: ${message.text()} (at ${at.url}:${at.lineNumber}:${at.columnNumber})`,
    );
  });
  context.on("weberror", (error) => {
    const e = error.error();
    problems.push(`${error.page()?.url() ?? "(no page)"}: uncaught: ${e.stack ?? e.message}`);
  });
  // Chromium prints a violation as a console error too, but that does not say which directive it
  // broke nor, for one caused by a script, the script's line: the event does.
  await context.exposeBinding(BINDING, ({ page }, v: Violation) => {
    problems.push(
      `${page.url()}: CSP violation (${v.disposition}) of ${v.directive}: ${v.blocked || "inline"}${v.source === "" ? "" : ` from ${v.source}:${v.line}:${v.column}`}${v.sample === "" ? "" : ` "${v.sample}"`}`,
    );
  });
  await context.addInitScript((binding: string) => {
    document.addEventListener(
      "securitypolicyviolation",
      (e) => {
        const report = (globalThis as unknown as Record<string, (v: Violation) => void>)[binding];
        void report?.({
          directive: e.violatedDirective,
          disposition: e.disposition,
          blocked: e.blockedURI,
          source: e.sourceFile,
          line: e.lineNumber,
          column: e.columnNumber,
          sample: e.sample,
        });
      },
      true,
    );
  }, BINDING);
}

/**
 * What the watched pages did wrong since the last call, and forgets it. Each open page is asked
 * for a value first: the browser delivers a page's events in order, so anything it logged before
 * that answer has been recorded by then.
 */
export async function takeConsoleProblems(): Promise<string[]> {
  for (const context of contexts) {
    for (const page of context.pages()) await page.evaluate(() => 0).catch(() => undefined);
  }
  return problems.splice(0);
}

/** Fails, listing them, when a watched page did something wrong since the last check. */
export async function checkConsoles(): Promise<void> {
  const found = await takeConsoleProblems();
  if (found.length > 0)
    throw new Error(`the browser's console is not clean (${found.length}):\n  ${found.join("\n  ")}`);
}

afterEach(checkConsoles);
// What happens between tests (beforeAll's sign-ins before the first) is charged to the next test's
// check; this catches what is left after the last one, the file's own afterAll included.
afterAll(checkConsoles);
