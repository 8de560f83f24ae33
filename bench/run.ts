/**
 * The benchmark runner: `npm run bench -- <suite> [options]`; `--help` lists the suites and
 * `npm run bench -- <suite> --help` a suite's options. Exit status: 0 when the suite ran (targets
 * met or not: each is printed PASS or MISS; `--strict` makes a miss exit 1), 1 when it failed,
 * 2 for a usage error (an unknown suite or option).
 */
import { authSuite } from "./auth.ts";
import { commandsSuite } from "./commands.ts";
import { projectionsSuite } from "./projections.ts";
import { readSuite } from "./read.ts";
import { webSuite } from "./web.ts";
import { UsageError, type Suite } from "./lib.ts";

/** The suites, by name. Later issues add theirs here. */
const SUITES: Record<string, Suite> = {
  commands: commandsSuite,
  auth: authSuite,
  projections: projectionsSuite,
  read: readSuite,
  web: webSuite,
};

const usage = `usage: npm run bench -- <suite> [options]

Suites:
${Object.entries(SUITES)
  .map(([name, s]) => `  ${name.padEnd(12)} ${s.about}`)
  .join("\n")}

Each suite starts its own nats-server in a temporary folder and removes it afterwards.
"npm run bench -- <suite> --help" shows the suite's options.
Exit status: 0 the suite ran (targets print PASS or MISS; with --strict a MISS exits 1),
1 the run failed, 2 usage error (unknown suite or option).`;

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(usage);
    return name === undefined ? 2 : 0;
  }
  const suite = SUITES[name];
  if (suite === undefined) {
    console.error(`error: unknown suite "${name}"\n\n${usage}`);
    return 2;
  }
  const rest = argv.slice(1);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(suite.usage);
    return 0;
  }
  try {
    return await suite.run(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}\n\n${suite.usage}`);
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
