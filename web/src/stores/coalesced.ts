/**
 * A task run at most once at a time: called while it runs, it answers the running one and runs
 * once more after it (however many calls came meanwhile), so what changed during a run is seen.
 *
 * @example const refresh = coalesced(() => loadRooms()); refresh(); refresh(); // two loads, not three at once
 */
export function coalesced(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const call = (): Promise<void> => {
    if (running !== null) {
      again = true;
      return running;
    }
    running = task().finally(() => {
      running = null;
      if (again) {
        again = false;
        void call().catch(() => undefined);
      }
    });
    return running;
  };
  return call;
}
