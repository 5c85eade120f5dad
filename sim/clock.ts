import { type Rng, randomFloat } from '../src/core/index.ts';

/**
 * How far replicas' clocks may stray from true time. The simulator owns true
 * time (`SimCluster.now`, in ticks); every replica's host reads only its own
 * local clock, and its core ticks once each time that clock passes a whole
 * tick. Two bounds, stated here and checked at every tick (`SimClock.check`):
 *
 * - rate: at every instant the local clock runs at `rate` local ticks per true
 *   tick with `|rate - 1| <= rho`, so over any interval of true length d it
 *   advances by between `(1 - rho)·d` and `(1 + rho)·d`;
 * - offset: at the start the local clock reads between 0 and `offsetMaxTicks`
 *   (the fraction sets where, inside a true tick, this replica ticks: replicas
 *   do not tick in lockstep).
 *
 * A feature that relies on time (a lease a client may use until its
 * acknowledged keep-alive + TTL − drift allowance, issue 14) states its
 * allowance in terms of `rho`: a local duration L lasts between
 * `L / (1 + rho)` and `L / (1 - rho)` true ticks (`trueTicksBounds`), and the
 * simulator, which knows true time, checks the claim.
 */
export interface ClockModel {
  /** The largest relative rate error of any replica's clock (0: every clock runs at true rate). */
  readonly rho: number;
  /** Initial readings are drawn from [0, offsetMaxTicks). */
  readonly offsetMaxTicks: number;
  /** Per true tick: probability that one replica's clock changes rate (anywhere within rho). */
  readonly rateChangeRate: number;
}

/** Every replica ticks exactly with true time, at the same instant (the stories' default). */
export const LOCKSTEP: ClockModel = Object.freeze({ rho: 0, offsetMaxTicks: 0, rateChangeRate: 0 });

/** The true duration a local duration of `localTicks` may last under `rho`: [shortest, longest]. */
export function trueTicksBounds(localTicks: number, rho: number): readonly [number, number] {
  return [localTicks / (1 + rho), localTicks / (1 - rho)];
}

/** One replica's local clock: piecewise linear in true time, each piece at a rate within rho. */
export class SimClock {
  readonly rho: number;
  /** The current rate: local ticks per true tick. */
  private rateNow: number;
  /** The local reading at true time `since` (the start of the current piece). */
  private localAtSince: number;
  private since: number;
  /** Where the clock started (true time, local reading): the whole-life bound is checked against it. */
  private readonly startTrue: number;
  private readonly startLocal: number;

  constructor(model: ClockModel, rng: Rng, trueNow: number) {
    if (!(model.rho >= 0 && model.rho < 1)) throw new RangeError(`clock: rho must be in [0, 1), got ${model.rho}`);
    this.rho = model.rho;
    // No draws for a lockstep clock: the stories' runs stay exactly as they were.
    this.rateNow = model.rho > 0 ? this.drawRate(rng) : 1;
    this.localAtSince = model.offsetMaxTicks > 0 ? randomFloat(rng) * model.offsetMaxTicks : 0;
    this.since = trueNow;
    this.startTrue = trueNow;
    this.startLocal = this.localAtSince;
  }

  get rate(): number {
    return this.rateNow;
  }

  /** The local reading at true time `t` (valid from the start of the current piece: keep earlier readings, not times). */
  localAt(t: number): number {
    return this.localAtSince + this.rateNow * (t - this.since);
  }

  /** From true time `trueNow` on, run at a new rate drawn within rho. */
  changeRate(rng: Rng, trueNow: number): void {
    this.localAtSince = this.localAt(trueNow);
    this.since = trueNow;
    this.rateNow = this.drawRate(rng);
  }

  /**
   * The true instants in `(from, to]` at which the local clock passes a whole
   * tick, in order: when this replica's host ticks its core.
   */
  tickInstants(from: number, to: number): number[] {
    const a = this.localAt(from);
    const b = this.localAt(to);
    const out: number[] = [];
    for (let k = Math.floor(a) + 1; k <= b; k++) out.push(from + (k - a) / this.rateNow);
    return out;
  }

  /** The stated bound, over the clock's whole life so far; a message saying how it broke, or null. */
  check(trueNow: number): string | null {
    const d = trueNow - this.startTrue;
    const l = this.localAt(trueNow) - this.startLocal;
    const slack = 1e-9 * Math.max(1, d);
    if (Math.abs(this.rateNow - 1) > this.rho + 1e-12) return `rate ${this.rateNow} is outside 1 ± ${this.rho}`;
    if (l < (1 - this.rho) * d - slack || l > (1 + this.rho) * d + slack) {
      return `advanced ${l.toFixed(3)} local ticks in ${d} true ticks, outside 1 ± ${this.rho}`;
    }
    return null;
  }

  private drawRate(rng: Rng): number {
    return 1 - this.rho + 2 * this.rho * randomFloat(rng);
  }
}
