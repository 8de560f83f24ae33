import { expect, test } from "vitest";
import { identityNameOf } from "./identityNames.ts";

test("an identity name is folded and cut to what a display name may be, never into something the stores refuse", () => {
  expect(identityNameOf("  Bob   Smith ")).toBe("Bob Smith");
  expect(identityNameOf("   ")).toBeUndefined();
  expect(identityNameOf(undefined)).toBeUndefined();
  // 63 characters and an emoji (two UTF-16 units): the cut leaves the emoji out, not half of it.
  const cut = identityNameOf(`${"a".repeat(63)}😀`)!;
  expect(cut).toBe("a".repeat(63));
  expect(cut.isWellFormed()).toBe(true);
  expect(identityNameOf("😀".repeat(40))).toBe("😀".repeat(32));
  expect(identityNameOf("nul\u0000here")).toBe("nul\uFFFDhere");
  expect(identityNameOf("half \udfff")).toBe("half \uFFFD");
});
