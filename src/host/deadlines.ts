/**
 * Many waits with a deadline, on one runtime timer. Every write and every RPC
 * to a peer waits with a timeout; a timer armed and cleared for each was a
 * visible share of a replicated write's CPU time in workerd (profiled at
 * concurrency 1). Here the timer is armed for the earliest deadline only, and
 * since deadlines are mostly added in increasing order (the same timeout from
 * a later now), adding one rarely touches the timer at all. A wait that ends
 * first is simply forgotten; its deadline passes unnoticed.
 */
export class Deadlines {
  private readonly waits = new Set<Wait>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Call `onExpire` once `ms` have passed, unless the returned cancel is called first. */
  add(ms: number, onExpire: () => void): () => void {
    const wait: Wait = { at: this.now() + ms, onExpire };
    this.waits.add(wait);
    if (wait.at < this.armedFor) this.arm(wait.at);
    // Cancelling leaves the timer armed: it fires once, finds nothing due, and is not re-armed
    // (cheaper than clearing and re-arming it around every short wait).
    return () => {
      this.waits.delete(wait);
    };
  }

  /** How many waits are pending (for tests). */
  get size(): number {
    return this.waits.size;
  }

  private arm(at: number): void {
    this.disarm();
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: Wait[] = [];
    for (const w of this.waits) {
      if (w.at <= now) expired.push(w);
      else if (w.at < next) next = w.at;
    }
    for (const w of expired) this.waits.delete(w);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const w of expired) w.onExpire();
  }
}

interface Wait {
  readonly at: number;
  readonly onExpire: () => void;
}
