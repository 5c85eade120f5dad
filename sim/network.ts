import type { Message, ReplicaId, Rng } from '../src/core/index.ts';
import { chance, randomFloat, randomInt } from '../src/core/index.ts';

/** How the simulated network misbehaves; every field may change during a run. */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** One-way delay in ticks, drawn uniformly per message; different draws reorder messages. */
  minDelayTicks: number;
  maxDelayTicks: number;
  /**
   * Long tail: probability that a message is delayed far beyond the usual,
   * by up to `tailMaxTicks` more (log-uniform: most such delays are a few
   * ticks, some are many election timeouts).
   */
  tailRate: number;
  tailMaxTicks: number;
}

interface InFlight {
  /** True time of delivery (fractional when clocks are not in lockstep). */
  readonly deliverAt: number;
  readonly seq: number;
  readonly message: Message;
  /** Released after being held: it was on its way before any cut made since, and arrives regardless. */
  readonly released?: boolean;
}

/** A message an adversary took out of the network, and what it waits for. */
export interface Captured {
  readonly message: Message;
  /** True time it was taken. */
  readonly at: number;
  /** Whatever the adversary needs to decide when to let it go (see FaultSchedule). */
  readonly why: string;
  readonly until: (now: number) => boolean;
}

/**
 * A simulated network between replicas: per-message loss, duplication, delay
 * (with a long tail) and reordering, a link table for symmetric or one-way
 * partitions, and an adversary's hand: messages taken out and delivered when
 * it chooses. A message crossing a cut link is dropped when it would be
 * delivered.
 */
export class SimNetwork {
  private readonly queue: InFlight[] = [];
  private seq = 0;
  /** `cut.has("a>b")`: nothing from a reaches b. */
  private readonly cut = new Set<string>();
  sent = 0;
  delivered = 0;
  dropped = 0;
  /** Messages given a long-tail delay. */
  tailDelayed = 0;
  /** Fixed one-way delay between two replicas (their regions' distance), added to the random part. */
  baseDelayTicks: (from: ReplicaId, to: ReplicaId) => number = () => 0;
  /** Slow replicas: extra one-way ticks on every message to or from each (an overloaded machine, a congested link). */
  readonly slow = new Map<ReplicaId, number>();

  private readonly rng: Rng;
  readonly faults: NetworkFaults;

  constructor(rng: Rng, faults: Partial<NetworkFaults> & Pick<NetworkFaults, 'minDelayTicks' | 'maxDelayTicks'>) {
    this.rng = rng;
    this.faults = { lossRate: 0, duplicateRate: 0, tailRate: 0, tailMaxTicks: 0, ...faults };
  }

  /** Stories: messages this matches are held back when sent, until `release` (an adversarial delay of any length). */
  holding: ((m: Message) => boolean) | null = null;
  readonly held: Message[] = [];

  /** The adversary: the next message this matches is taken out, to be let go when `until` says so. */
  private capturing: { readonly match: (m: Message) => boolean; readonly why: string; readonly until: (now: number) => boolean } | null = null;
  readonly captured: Captured[] = [];

  capture(match: (m: Message) => boolean, why: string, until: (now: number) => boolean): void {
    this.capturing = { match, why, until };
  }

  get capturePending(): boolean {
    return this.capturing !== null;
  }

  /** Stop waiting to capture (the adversary changed its mind, or faults are healed). */
  stopCapturing(): void {
    this.capturing = null;
  }

  send(message: Message, now: number): void {
    this.sent += 1;
    if (this.holding?.(message)) {
      this.held.push(message);
      return;
    }
    const c = this.capturing;
    if (c && c.match(message)) {
      this.capturing = null;
      this.captured.push({ message, at: now, why: c.why, until: c.until });
      return;
    }
    if (chance(this.rng, this.faults.lossRate)) {
      this.dropped += 1;
      return;
    }
    const copies = chance(this.rng, this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const slowTicks = Math.max(this.slow.get(message.from) ?? 0, this.slow.get(message.to) ?? 0);
      let delay = this.baseDelayTicks(message.from, message.to) + slowTicks + randomInt(this.rng, this.faults.minDelayTicks, this.faults.maxDelayTicks);
      if (chance(this.rng, this.faults.tailRate)) {
        this.tailDelayed += 1;
        delay += Math.floor(Math.exp(randomFloat(this.rng) * Math.log(Math.max(1, this.faults.tailMaxTicks))));
      }
      this.queue.push({ deliverAt: now + delay, seq: this.seq++, message });
    }
  }

  /** Deliver every held message `delayTicks` from `now`, whatever links were cut since it was sent; stop holding. */
  release(now: number, delayTicks = 1): number {
    this.holding = null;
    const n = this.held.length;
    for (const message of this.held.splice(0)) this.queue.push({ deliverAt: now + delayTicks, seq: this.seq++, message, released: true });
    return n;
  }

  /** Captured messages whose moment has come (or all of them) are let go, to arrive `delayTicks` from `now`; returns them. */
  releaseCaptured(now: number, delayTicks: number, all = false): Captured[] {
    const out: Captured[] = [];
    let w = 0;
    for (const c of this.captured) {
      if (all || c.until(now)) out.push(c);
      else this.captured[w++] = c;
    }
    this.captured.length = w;
    for (const c of out) this.queue.push({ deliverAt: now + delayTicks, seq: this.seq++, message: c.message, released: true });
    return out;
  }

  /** Messages due by `now`, in delivery order, with their delivery times; those crossing a cut link are dropped. */
  due(now: number): { readonly at: number; readonly message: Message }[] {
    const ready: InFlight[] = [];
    let w = 0;
    for (const f of this.queue) {
      if (f.deliverAt <= now) ready.push(f);
      else this.queue[w++] = f;
    }
    this.queue.length = w;
    ready.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
    const out: { at: number; message: Message }[] = [];
    for (const f of ready) {
      if (!f.released && this.cut.has(link(f.message.from, f.message.to))) {
        this.dropped += 1;
        continue;
      }
      this.delivered += 1;
      out.push({ at: f.deliverAt, message: f.message });
    }
    return out;
  }

  get inFlight(): number {
    return this.queue.length;
  }

  /** Cut every link between different groups, both ways; replicas in no group keep their links. */
  partition(groups: readonly (readonly ReplicaId[])[]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(link(x, y));
      }
    }
  }

  /** Cut one direction only: `from` can no longer reach `to`. */
  cutOneWay(from: ReplicaId, to: ReplicaId): void {
    this.cut.add(link(from, to));
  }

  isolate(id: ReplicaId, all: readonly ReplicaId[]): void {
    this.partition([[id], all.filter((x) => x !== id)]);
  }

  heal(): void {
    this.cut.clear();
  }

  get partitioned(): boolean {
    return this.cut.size > 0;
  }

  describeCuts(): string {
    return [...this.cut].sort().join(' ') || 'none';
  }
}

function link(from: ReplicaId, to: ReplicaId): string {
  return `${from}>${to}`;
}
