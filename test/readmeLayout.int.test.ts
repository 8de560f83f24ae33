import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "./childProcess.ts";

/** The README's "Layout" section: the folders its table names, and the root files its sentence lists. */
function readmeLayout(): { folders: Set<string>; rootFiles: Set<string> } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("\n## Layout\n"),
    readme.indexOf("\n## ", readme.indexOf("\n## Layout\n") + 5),
  );
  const folders = new Set([...section.matchAll(/^\| `([^`/]+)\/[^`]*` \|/gm)].map((m) => m[1]!));
  const rootSentence = section.slice(section.indexOf("The root holds only"));
  const rootFiles = new Set([...rootSentence.matchAll(/`([^`/]+)`/g)].map((m) => m[1]!));
  return { folders, rootFiles };
}

test("the README's layout table names every top-level folder in git and no other, and the root holds only the files it lists", () => {
  const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" })
    .split("\n")
    .filter((f) => f !== "");
  const folders = new Set(tracked.filter((f) => f.includes("/") && !f.startsWith(".")).map((f) => f.split("/")[0]!));
  const rootFiles = new Set(tracked.filter((f) => !f.includes("/") && !f.startsWith(".")));
  const readme = readmeLayout();
  expect([...readme.folders].sort()).toEqual([...folders].sort());
  expect([...rootFiles].sort()).toEqual([...readme.rootFiles].sort());
});
