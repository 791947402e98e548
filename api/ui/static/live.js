// Live figures of an active run, derived for display from successive status reads:
// the rate (docs/s) is not a status field, so it comes from how `count` moves.

const WINDOW_MS = 15000;

/** Remembers (time, count) samples per run and turns them into a rate. */
export class RateTracker {
  constructor() {
    this.samples = new Map();
  }

  /** Record a status read; returns docs/s, or null while unknown. */
  observe(status, now = Date.now()) {
    const key = status.run_id;
    const list = this.samples.get(key) || [];
    const last = list[list.length - 1];
    if (!last || last.count !== status.count) list.push({ t: now, count: status.count });
    while (list.length > 2 && now - list[0].t > WINDOW_MS) list.shift();
    this.samples.set(key, list);
    const first = list[0];
    const newest = list[list.length - 1];
    // Counts move when the worker writes its status (every status_interval_s), so a rate
    // needs two distinct writes; until then, the average since the run started.
    if (list.length >= 2 && newest.t - first.t >= 1500) {
      return ((newest.count - first.count) * 1000) / (newest.t - first.t);
    }
    if (status.start_time && status.count > 0 && now > status.start_time) {
      return (status.count * 1000) / (now - status.start_time);
    }
    return null;
  }

  forgetExcept(runIds) {
    for (const key of [...this.samples.keys()]) if (!runIds.has(key)) this.samples.delete(key);
  }
}

/** Milliseconds left: the service's estimate, else (total - count) / rate when both are known. */
export function remainingMs(status, docsPerSecond) {
  if (typeof status.estimated_time_remaining === "number") return { ms: status.estimated_time_remaining, estimated: false };
  if (status.total && docsPerSecond > 0 && status.count < status.total) {
    return { ms: ((status.total - status.count) / docsPerSecond) * 1000, estimated: true };
  }
  return null;
}
