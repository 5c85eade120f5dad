// Flow control (DCF's adaptive batching and pipelining): how many accept batches
// a leader keeps in flight and how many commands each batch carries.
// Pure: the host feeds it samples with its own clock; it never reads one.

/** The limits a leader batches proposals by. */
export interface FlowLimits {
  /** Pipeline depth: accept batches in flight at most (a new leader's opening batches aside: replication.ts). */
  readonly inflightMax: number;
  /** Commands per accept batch at most. */
  readonly batchMax: number;
  /**
   * Batch window, in commands: while a batch is in flight, a new batch waits
   * until this many commands are queued (1 = send at once). A decided batch
   * always flushes the queue again, so a command never waits for more than
   * the batch ahead of it.
   */
  readonly batchMin: number;
}

/** What the leader reports to a flow controller (Replica.flowState()). */
export interface FlowState {
  /** Accept batches sent and not yet decided (0 unless leading). */
  readonly inflight: number;
  /** Commands waiting for room in the pipeline or for the batch window. */
  readonly queued: number;
  readonly decidedThrough: number;
  /** The last slot the leader has put in an accept batch (0 unless leading). */
  readonly lastProposedSlot: number;
}

/** Refuses limits that would stall the leader (a bug in whoever computed them). */
export function checkFlowLimits(l: FlowLimits): FlowLimits {
  const ok = Number.isInteger(l.inflightMax) && l.inflightMax >= 1 && Number.isInteger(l.batchMax) && l.batchMax >= 1;
  if (!ok || !Number.isInteger(l.batchMin) || l.batchMin < 1 || l.batchMin > l.batchMax) {
    throw new Error(`flow control: invalid limits ${JSON.stringify(l)}`);
  }
  return l;
}

/** Tuning of the adaptive controller; the defaults suit both a single machine and a WAN. */
export interface AdaptiveFlowOptions {
  /** Commands per accept batch at most. */
  readonly batchMax: number;
  /** Pipeline depth bounds, and where it starts. */
  readonly minInflight: number;
  readonly maxInflight: number;
  readonly initialInflight: number;
  /** A period (one decision) lasts at least this long and sees at least `periodBatches` batches decided. */
  readonly periodMs: number;
  readonly periodBatches: number;
  /** Periods over which the floor of the batch latency is remembered (so it can rise again if the network gets slower). */
  readonly floorPeriods: number;
  /**
   * Every this many periods, one period runs at `minInflight` (of at least `probeBatches` batches) to
   * measure the floor afresh: a deep pipeline that is already queueing never sees it otherwise.
   */
  readonly probeEveryPeriods: number;
  readonly probeBatches: number;
  /** Below this many batches queued in the pipeline (Vegas's alpha) a backlogged leader deepens it; above `shrinkAbove` (beta) it makes it shallower. */
  readonly growBelow: number;
  readonly shrinkAbove: number;
  /** After making the pipeline shallower, do not make it deeper again for this many periods (no flapping between two depths). */
  readonly holdPeriods: number;
  /** The clock's resolution: latencies are counted as at least this (workerd's clock moves in whole milliseconds). */
  readonly clockResolutionMs: number;
}

export const DEFAULT_ADAPTIVE_FLOW: AdaptiveFlowOptions = Object.freeze({
  batchMax: 256,
  minInflight: 1,
  maxInflight: 16,
  initialInflight: 1,
  periodMs: 100,
  periodBatches: 8,
  floorPeriods: 50,
  probeEveryPeriods: 40,
  probeBatches: 2,
  growBelow: 0.25,
  shrinkAbove: 1,
  holdPeriods: 10,
  clockResolutionMs: 1,
});

/** What the controller decided at the end of a period, and from what (for metrics and tests). */
export interface FlowPeriod {
  readonly inflightMax: number;
  /** Mean latency of the batches decided in the period, from sent to decided. */
  readonly batchLatencyMs: number;
  /** The lowest batch latency seen over the last `floorPeriods` periods: a batch that waited for nothing but the quorum. */
  readonly floorLatencyMs: number;
  /** Batches that waited in the pipeline rather than on the quorum: depth x (1 - floor / latency) (TCP Vegas's "diff"). */
  readonly queuedBatches: number;
  /** Fraction of the period's observations at which the pipeline was full and commands waited behind it. */
  readonly backlog: number;
  /** Commands decided per second during the period. */
  readonly decidedPerSec: number;
  readonly change: 'deeper' | 'shallower' | 'same' | 'probe' | 'probed';
}

/**
 * Adaptive flow control (DCF's adaptive batching), in the manner of TCP Vegas:
 * the leader samples how long each accept batch takes from sent to decided,
 * remembers the lowest such latency (a batch that waited for nothing but its
 * quorum's round trip), and estimates how many of its in-flight batches are
 * really queued behind one another — in the replicas' CPUs, storage or
 * mailboxes — rather than travelling: `depth x (1 - floor / latency)`.
 *
 * - Above `shrinkAbove` queued batches, a deeper pipeline only splits the same
 *   work into more, smaller batches (more RPCs and transactions per command):
 *   one batch fewer.
 * - Below `growBelow`, while commands wait behind a full pipeline (the decided
 *   rate is limited by the depth, not by the replicas: a long round trip), one
 *   batch more, unless it was made shallower in the last `holdPeriods` periods
 *   (a depth that queued a moment ago is not retried at once).
 *
 * Batches size themselves: everything queued goes out in the next batch (up
 * to `batchMax`), so a shallow pipeline under load means large batches, and
 * the time a command waits for its batch is at most the batch ahead of it
 * (the batch window is that batch; no timer). Under light load a batch goes
 * out as soon as a command arrives and depth does not matter.
 *
 * The floor is the lowest latency of the last `floorPeriods` periods; every
 * `probeEveryPeriods` periods (and first of all) one short period runs at the
 * minimum depth to measure it afresh, as TCP BBR's ProbeRTT does: a pipeline
 * that is already queueing never sees an unqueued batch otherwise.
 *
 * Only the quorum's latency counts (a batch is decided by the fastest quorum),
 * so a slow follower changes nothing here. The host calls `observe` after
 * every input with its clock; the controller itself reads none.
 */
export class AdaptiveFlowController {
  private readonly opts: AdaptiveFlowOptions;
  private inflightMax: number;
  /** Batches sent and not yet decided: the last slot each covers, and when it left. */
  private sent: { lastSlot: number; atMs: number }[] = [];
  private lastProposedSlot = -1;
  private periodStartMs: number | null = null;
  private periodStartDecided = 0;
  private latencies: number[] = [];
  private observations = 0;
  private backlogged = 0;
  private floors: number[] = [];
  private lastPeriod: FlowPeriod | null = null;
  /** While probing the floor at the minimum depth: the depth to return to. */
  private probingFrom: number | null = null;
  private periodsSinceProbe = 0;
  private periodsSinceShrink = Infinity;

  constructor(opts: Partial<AdaptiveFlowOptions> = {}) {
    this.opts = { ...DEFAULT_ADAPTIVE_FLOW, ...opts };
    const o = this.opts;
    if (!(o.minInflight >= 1 && o.minInflight <= o.initialInflight && o.initialInflight <= o.maxInflight) || o.shrinkAbove <= o.growBelow) {
      throw new Error(`flow control: invalid adaptive options ${JSON.stringify(o)}`);
    }
    this.inflightMax = o.initialInflight;
    if (o.initialInflight > o.minInflight) this.startProbe(); // no floor yet: measure it first
  }

  private startProbe(): void {
    this.probingFrom = this.inflightMax;
    this.inflightMax = this.opts.minInflight;
    this.periodsSinceProbe = 0;
  }

  limits(): FlowLimits {
    return { inflightMax: this.inflightMax, batchMax: this.opts.batchMax, batchMin: 1 };
  }

  /** The latest period's decision, or null before the first. */
  period(): FlowPeriod | null {
    return this.lastPeriod;
  }

  /**
   * One observation, after the leader did whatever an input caused, with the
   * host's clock. Returns new limits when they change.
   */
  observe(nowMs: number, state: FlowState): FlowLimits | null {
    if (state.inflight === 0 && state.queued === 0 && this.sent.length === 0) {
      // Idle (or not leading): nothing to learn; the next period starts with the next batch.
      this.periodStartMs = null;
      this.lastProposedSlot = state.lastProposedSlot;
      return null;
    }
    if (this.lastProposedSlot < 0 || state.lastProposedSlot < this.lastProposedSlot) this.sent = []; // a new leadership
    if (state.lastProposedSlot > this.lastProposedSlot && this.lastProposedSlot >= 0) this.sent.push({ lastSlot: state.lastProposedSlot, atMs: nowMs });
    this.lastProposedSlot = state.lastProposedSlot;
    while (this.sent.length > 0 && this.sent[0]!.lastSlot <= state.decidedThrough) {
      const r = this.sent.shift()!;
      this.latencies.push(Math.max(this.opts.clockResolutionMs, nowMs - r.atMs));
    }
    if (state.inflight === 0) this.sent = []; // nothing outstanding (or leadership lost): no batch left to time
    if (this.periodStartMs === null) {
      this.periodStartMs = nowMs;
      this.periodStartDecided = state.decidedThrough;
      this.latencies = [];
      this.observations = 0;
      this.backlogged = 0;
    }
    this.observations += 1;
    if (state.queued > 0 && state.inflight >= this.inflightMax) this.backlogged += 1;
    const elapsedMs = nowMs - this.periodStartMs;
    const batches = this.probingFrom === null ? this.opts.periodBatches : this.opts.probeBatches;
    if (elapsedMs < this.opts.periodMs || this.latencies.length < batches) return null;
    return this.endPeriod(nowMs, elapsedMs, state.decidedThrough);
  }

  private endPeriod(nowMs: number, elapsedMs: number, decidedThrough: number): FlowLimits | null {
    const o = this.opts;
    const latency = this.latencies.reduce((a, b) => a + b, 0) / this.latencies.length;
    this.floors.push(Math.min(...this.latencies));
    if (this.floors.length > o.floorPeriods) this.floors.shift();
    const floor = Math.min(...this.floors);
    const queuedBatches = this.inflightMax * (1 - floor / latency);
    const backlog = this.backlogged / this.observations;
    const before = this.inflightMax;
    let change: FlowPeriod['change'];
    if (this.probingFrom !== null) {
      this.inflightMax = this.probingFrom; // the floor is measured: back to where we were
      this.probingFrom = null;
      change = 'probed';
    } else {
      this.periodsSinceShrink += 1;
      if (queuedBatches > o.shrinkAbove && this.inflightMax > o.minInflight) {
        this.inflightMax -= 1;
        this.periodsSinceShrink = 0;
      } else if (queuedBatches < o.growBelow && backlog >= 0.5 && this.inflightMax < o.maxInflight && this.periodsSinceShrink > o.holdPeriods) {
        this.inflightMax += 1;
      }
      change = this.inflightMax > before ? 'deeper' : this.inflightMax < before ? 'shallower' : 'same';
      this.periodsSinceProbe += 1;
      if (this.periodsSinceProbe >= o.probeEveryPeriods && this.inflightMax > o.minInflight) {
        this.startProbe();
        change = 'probe';
      }
    }
    this.lastPeriod = {
      inflightMax: this.inflightMax,
      batchLatencyMs: latency,
      floorLatencyMs: floor,
      queuedBatches,
      backlog,
      decidedPerSec: ((decidedThrough - this.periodStartDecided) * 1000) / Math.max(1, elapsedMs),
      change,
    };
    this.periodStartMs = nowMs;
    this.periodStartDecided = decidedThrough;
    this.latencies = [];
    this.observations = 0;
    this.backlogged = 0;
    return this.inflightMax === before ? null : this.limits();
  }
}
