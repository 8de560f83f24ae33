import { createRoot } from "solid-js";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { createAnnouncer } from "./announcer.ts";

describe("createAnnouncer", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  test("empties the region, then says the words a moment later; the same words twice make two changes", () => {
    createRoot((dispose) => {
      const [text, announce] = createAnnouncer();
      const seen: string[] = [];
      const record = () => seen.at(-1) !== text() && seen.push(text());
      announce("New message from bob: ok");
      record();
      vi.advanceTimersByTime(100);
      record();
      announce("New message from bob: ok");
      record();
      vi.advanceTimersByTime(100);
      record();
      expect(seen).toEqual(["", "New message from bob: ok", "", "New message from bob: ok"]);
      dispose();
    });
  });

  test("a newer announcement before the last one is said replaces it; disposing cancels what is pending", () => {
    createRoot((dispose) => {
      const [text, announce] = createAnnouncer();
      announce("first");
      announce("second");
      vi.advanceTimersByTime(100);
      expect(text()).toBe("second");
      announce("third");
      dispose();
      vi.advanceTimersByTime(100);
      expect(text()).toBe("");
    });
  });
});
