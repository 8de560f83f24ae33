/**
 * The one-way imports (README, "Tests"), checked in `npm test`:
 * streams → domain; commands → domain, streams; projections → domain, streams;
 * read-api → projections (the read-model schema), streams, domain, auth; replay → streams, projections,
 * domain, auth (its service credentials); auth → domain (ids, errors); domain imports nothing but
 * zod (its tests may use the test tools). app/ (the entry points and their wiring) may import anything;
 * nothing imports app/, except that the replay CLI, an entry point of its own, reads the same
 * configuration (app/config.ts).
 */
const TEST = "\\.test\\.ts$|/testing/";
const allowedNpmInDomain = "^node_modules/(zod)/";

/** A rule that `from` may import only from its own folder and `allowed`. */
const only = (from, allowed) => ({
  name: `${from}-imports`,
  comment: `${from}/ may import only ${allowed.join(", ") || "itself"} (imports flow one way: README, "Tests")`,
  severity: "error",
  from: { path: `^${from}/`, pathNot: TEST },
  to: {
    path: "^(domain|streams|commands|projections|read-api|auth|replay|web|bench|test)/",
    pathNot: `^(${[from, ...allowed].join("|")})/`,
  },
});

module.exports = {
  forbidden: [
    {
      name: "domain-is-pure",
      comment: "domain/ imports nothing but zod: no NATS, no database, no node built-ins",
      severity: "error",
      from: { path: "^domain/", pathNot: TEST },
      to: { pathNot: `^domain/|${allowedNpmInDomain}` },
    },
    only("streams", ["domain"]),
    only("commands", ["domain", "streams"]),
    only("projections", ["domain", "streams"]),
    only("read-api", ["domain", "streams", "projections", "auth"]),
    only("replay", ["domain", "streams", "projections", "auth"]),
    only("auth", ["domain"]),
    {
      name: "nothing-imports-app",
      comment: "app/ is the composition root: no part imports it (the replay CLI reads app/config.ts only)",
      severity: "error",
      from: { path: "^(domain|streams|commands|projections|read-api|auth|replay|web/src|bench)/", pathNot: TEST },
      to: { path: "^app/", pathNot: "^app/config\\.ts$" },
    },
    {
      name: "replay-reads-only-config-of-app",
      severity: "error",
      from: { path: "^(domain|streams|commands|projections|read-api|auth|web/src|bench)/", pathNot: TEST },
      to: { path: "^app/config\\.ts$" },
    },
    {
      name: "web-types-only",
      comment: "web/ takes only types from the server's folders: the browser bundle never carries server code",
      severity: "error",
      from: { path: "^web/src/", pathNot: TEST },
      to: {
        path: "^(domain|streams|commands|projections|read-api|auth|replay|bench|test)/",
        dependencyTypesNot: ["type-only"],
      },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "node_modules" },
  },
};
