/**
 * How a host turns the time that passed into core ticks, and when it forgives
 * a late wake-up. One rule, shared by the Durable Object host
 * (clocked-host.ts) and the simulator (sim/cluster.ts), so that what the
 * simulator checks is what production does.
 *
 * A host asks to be woken when the core's earliest timer is due (`expectWake`)
 * and tells the clock the time at every input (`advance`). If an input comes
 * well after the wake-up was due, the host was not run meanwhile (an
 * overloaded machine: local workerd holds alarms back for seconds while another
 * object is under load) and heard nothing; neither, most likely, did its
 * peers. Replaying that time would fire election and check-quorum timers on a
 * silence nobody could observe and depose a healthy leader. So the lost time
 * is dropped and the failure detectors start over (`Replica.resume`): one
 * extra election timeout at most before a real failure is acted on. Forgiven
 * at most once per two election timeouts, so a replica whose wake-ups are
 * always late still detects a dead leader.
 */

/** The timing a clock needs: the tick length and the core's heartbeat and election timeouts in ticks. */
export interface ClockTiming {
  /** Milliseconds per tick (the simulator counts in ticks: 1). */
  readonly tickMs: number;
  readonly heartbeatIntervalTicks: number;
  readonly electionTimeoutTicks: number;
}

/** What the core should be told when time passed: run `ticks` ticks, or resume (the time was dropped). */
export type ClockAdvance = { readonly kind: 'ticks'; readonly ticks: number } | { readonly kind: 'resume' };

/** What a clock drives: the core's time inputs, through the runner. */
export interface Ticked {
  tick(): void;
  resume(): void;
}

export class HostClock {
  /** Milliseconds per tick. */
  readonly tickMs: number;
  /** An input later than this past the wake-up's due time means the host was not run meanwhile. */
  readonly lateWakeMs: number;
  /** At most one late wake-up is forgiven per this many milliseconds (two election timeouts). */
  readonly forgiveEveryMs: number;
  /** Cap on ticks replayed at once after a long sleep: beyond it, every timer has fired anyway. */
  readonly maxCatchUpTicks: number;
  /** When the last tick counted was (ticks are whole: a fraction of one waits for the next input). */
  private lastTickAt: number;
  /** When the wake-up last asked for is due (null: none asked, e.g. quiet). */
  private wakeDueAt: number | null = null;
  private lastForgivenAt = Number.NEGATIVE_INFINITY;
  /** Late wake-ups forgiven so far. */
  forgiven = 0;

  constructor(timing: ClockTiming, nowMs: number) {
    this.tickMs = timing.tickMs;
    this.lateWakeMs = Math.max(timing.heartbeatIntervalTicks * timing.tickMs, 2 * timing.tickMs);
    this.forgiveEveryMs = 2 * timing.electionTimeoutTicks * timing.tickMs;
    this.maxCatchUpTicks = 4 * timing.electionTimeoutTicks;
    this.lastTickAt = nowMs;
  }

  /** Time is `nowMs`: how many whole ticks passed since the last one counted, or `resume` for a late wake-up forgiven. */
  advance(nowMs: number): ClockAdvance {
    const due = this.wakeDueAt;
    if (due !== null && nowMs - due > this.lateWakeMs && nowMs - this.lastForgivenAt >= this.forgiveEveryMs) {
      this.lastForgivenAt = nowMs;
      this.lastTickAt = nowMs;
      this.wakeDueAt = null;
      this.forgiven += 1;
      return { kind: 'resume' };
    }
    const ticks = Math.floor((nowMs - this.lastTickAt) / this.tickMs);
    if (ticks <= 0) return { kind: 'ticks', ticks: 0 };
    this.lastTickAt = ticks > this.maxCatchUpTicks ? nowMs : this.lastTickAt + ticks * this.tickMs;
    return { kind: 'ticks', ticks: Math.min(ticks, this.maxCatchUpTicks) };
  }

  /** `advance`, carried out on `replica`; true if a late wake-up was forgiven. */
  drive(nowMs: number, replica: Ticked): boolean {
    const step = this.advance(nowMs);
    if (step.kind === 'resume') {
      replica.resume();
      return true;
    }
    for (let i = 0; i < step.ticks; i++) replica.tick();
    return false;
  }

  /** When a timer `ticks` ticks from the last tick counted fires. */
  timerDueAt(ticks: number): number {
    return this.lastTickAt + ticks * this.tickMs;
  }

  /** The host asked to be woken at `atMs` (null: not at all, e.g. quiet): an input long after it is a late wake-up. */
  expectWake(atMs: number | null): void {
    this.wakeDueAt = atMs;
  }
}
