import { type ReplicaId, type Rng, DEFAULT_THRIFTY, SeededRng, chance, isVoter, randomFloat, randomInt } from '../src/core/index.ts';
import { checkLinearizability } from './checker/linearizability.ts';
import { kvModel } from './checker/kv-model.ts';
import { coordinationModel } from './checker/coordination-model.ts';
import { CoordinationWorkload } from './coordination.ts';
import type { CompactionPolicy } from '../src/host/ready-runner.ts';
import { type Timing, SimCluster } from './cluster.ts';
import { type ClockModel, LOCKSTEP } from './clock.ts';
import { COUNTERS, type Counts, FaultSchedule } from './faults.ts';
import { type Topology, describeTopology, drawTopology, maxBaseDelayTicks, topPriority } from './topology.ts';
import { SafetyViolation } from './safety.ts';
import { TrailingLagCheck } from './thrifty-check.ts';
import { Workload } from './workload.ts';

/**
 * The fault kinds and operations a seed may turn off entirely or up (swarm
 * testing: a run that never partitions explores what partitions would hide).
 */
export const FAULT_KINDS = [
  'loss',
  'duplication',
  'reordering',
  'long-tail delay',
  'adversary',
  'clock drift',
  'host stalls',
  'crashes',
  'crashes between persist and send',
  'partitions',
  'region outages',
  'operator actions',
  'membership changes',
  'minority force-start',
  'compaction',
  'going quiet',
  'quiet periods',
  'idle evictions',
  'client pauses',
  'back-pressure',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Every fault knob of one run, all drawn from the seed. */
export interface Knobs {
  readonly replicas: number;
  /** Per fault kind: off (never happens in this run), on, or up (far more often than usual). */
  readonly swarm: Readonly<Record<FaultKind, 'off' | 'on' | 'up'>>;
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly maxDelayTicks: number;
  /** Long-tail delays: the share of messages delayed by up to `tailMaxTicks` more. */
  readonly tailRate: number;
  readonly tailMaxTicks: number;
  /** Per tick: probability that the adversary takes the next matching message to deliver when it hurts most. */
  readonly holdRate: number;
  /** How far each replica's clock strays from true time (sim/clock.ts). */
  readonly clocks: ClockModel;
  /** Per tick: probability that a replica (the leader half of the time) crashes. */
  readonly crashRate: number;
  readonly downTicksMax: number;
  readonly crashBetweenPersistAndSendRate: number;
  /** Per tick: probability that a partition starts when none is active. */
  readonly partitionRate: number;
  readonly partitionTicksMax: number;
  readonly clients: number;
  readonly keys: number;
  readonly clientTimeoutTicks: number;
  readonly giveUpRate: number;
  /** Per tick: probability that every replica of one group (a region) crashes at once. */
  readonly regionOutageRate: number;
  /** Per tick: probability of an operator action (switchover, step-down, promote, run mode, snapshot now). */
  readonly operatorRate: number;
  /** Per tick: probability of a membership change (add a learner, promote, demote, remove, change priority or weight, rebuild). */
  readonly membershipRate: number;
  /** Per tick: probability that an operator starts a minority force-start drill (when none is under way). */
  readonly minorityRate: number;
  /** Snapshots and log compaction (null: the log is kept whole). */
  readonly compaction: CompactionPolicy | null;
  /** Per tick: probability that replica hosts stall (not run for up to three election timeouts: one replica, or all together). */
  readonly stallRate: number;
  /** A stream goes quiet after this many ticks without a request (0: never). */
  readonly quietAfterTicks: number;
  /** Per tick: probability that every client stops for a while (the stream goes idle). */
  readonly quietPeriodRate: number;
  /** Per tick: probability that a quiet replica (sometimes every one) is evicted and restarted. */
  readonly evictionRate: number;
  /** Back-pressure: requests that may wait at a replica at once (null: unlimited). */
  readonly pendingMax: number | null;
  /** Client think time: probability of a pause after an operation, up to this many ticks. */
  readonly pauseRate: number;
  readonly pauseTicksMax: number;
  readonly snapshotChunkChars: number;
  /**
   * Thrifty replication on every replica (about half the seeds; drawn from a
   * stream of its own, see THRIFTY_SALT), and per tick the probability that
   * the leader's nearest follower crashes, is cut off or turns slow: the
   * moments thrifty replication must ride out with its hedge.
   */
  readonly thrifty: boolean;
  readonly nearestFollowerFaultRate: number;
  readonly timing: Timing;
  readonly topology: Topology;
}

export interface SimulationOptions {
  readonly seed: number;
  /** Client operations started during the safety phase (default 500). */
  readonly operations?: number;
  /** A fixed topology instead of one drawn from the seed (scenario tests). */
  readonly topology?: Topology;
  /** A fixed rate of whole-region outages per tick instead of one drawn from the seed. */
  readonly regionOutageRate?: number;
  /** A fixed rate of membership changes per tick instead of one drawn from the seed. */
  readonly membershipRate?: number;
  /** A fixed rate of host stalls per tick instead of one drawn from the seed. */
  readonly stallRate?: number;
  /** Back-pressure: requests that may wait at a replica at once (default: unlimited). */
  readonly pendingMax?: number;
  /**
   * The coordination campaign (sim/coordination.ts): beside the KV clients,
   * transactions, leases, a contended lock and watches, with the lease and
   * lock rules checked as they happen, the coordination model and the watch
   * checker at the end. Same faults and knobs; the KV clients start
   * `COORDINATION_KV_OPERATIONS` operations unless `operations` says otherwise.
   */
  readonly coordination?: boolean;
  /** Operations the coordination clients start (default COORDINATION_OPERATIONS). */
  readonly coordinationOperations?: number;
  /** Thrifty replication on or off, whatever the seed draws (default: drawn from the seed). */
  readonly thrifty?: boolean;
}

export const COORDINATION_OPERATIONS = 300;
export const COORDINATION_KV_OPERATIONS = 200;

/** What the coordination campaign counts (only its runs have them; a campaign of it fails if one never moved). */
export const COORDINATION_COUNTERS = [
  'coordination: transaction',
  'coordination: lease granted',
  'coordination: lease expired',
  'coordination: lock turn',
  'coordination: holder died holding the lock',
  'coordination: fenced write',
  'coordination: watch event delivered',
  'coordination: watch reconnected',
  'coordination: watch compacted',
] as const;

/**
 * Thrifty replication's knobs are drawn from a stream of their own (the seed
 * XOR this salt), so adding them changed no draw of any other knob: a seed
 * that draws thrifty replication off runs exactly as it did before.
 */
const THRIFTY_SALT = 0x7f4a7c15;

/**
 * Whether snapshots scale with the state (CompactionPolicy.scaleWithState, as
 * Durable Object hosts run by default) is drawn from a stream of its own too: half
 * the seeds with compaction on keep the fixed interval, whose frequent
 * snapshots exercise installs and catch-up hardest.
 */
const COMPACTION_SALT = 0x2545f491;

export interface SimulationStats {
  readonly safetyTicks: number;
  readonly livenessTicks: number;
  readonly livenessBoundTicks: number;
  readonly operations: number;
  readonly completed: number;
  readonly gaveUp: number;
  readonly retries: number;
  /** Attempts refused by back-pressure, and operations dropped after such a refusal (never proposed). */
  readonly overloaded: number;
  readonly dropped: number;
  readonly decidedSlots: number;
  readonly messagesSent: number;
  readonly messagesDropped: number;
  /** How often each fault and operation happened (faults.ts COUNTERS). */
  readonly counts: Counts;
  /** The most entries any replica held in storage at the end. */
  readonly maxStoredEntries: number;
}

export type SimulationResult =
  | { readonly ok: true; readonly seed: number; readonly coordination: boolean; readonly knobs: Knobs; readonly stats: SimulationStats }
  | {
      readonly ok: false;
      readonly seed: number;
      readonly coordination: boolean;
      readonly knobs: Knobs;
      /** Which check failed: safety (an invariant, named by `rule`), linearizability, liveness, or a watch's delivery (coordination). */
      readonly check: 'safety' | 'linearizability' | 'liveness' | 'watch';
      /** For a safety failure, the invariant (SafetyChecker's rule names; `assertion`: an exception crashed the run). */
      readonly rule?: string;
      readonly message: string;
      /** The one line that reproduces this run. */
      readonly reproduce: string;
      readonly trace: readonly string[];
    };

export const DEFAULT_OPERATIONS = 500;
/** A safety phase that has not started every operation within this many ticks per operation counts as stuck. */
const SAFETY_TICKS_PER_OPERATION = 120;

/** A uniform float in [lo, hi). */
function between(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * randomFloat(rng);
}

export function drawKnobs(rng: Rng, fixedTopology?: Topology): Knobs {
  // Swarm testing: each kind is off in about a third of the runs and up in a fifth of the rest.
  const swarm = {} as Record<FaultKind, 'off' | 'on' | 'up'>;
  for (const kind of FAULT_KINDS) swarm[kind] = chance(rng, 0.3) ? 'off' : chance(rng, 0.2) ? 'up' : 'on';
  const rate = (kind: FaultKind, on: readonly [number, number], up: readonly [number, number]): number =>
    swarm[kind] === 'off' ? 0 : swarm[kind] === 'up' ? between(rng, up[0], up[1]) : between(rng, on[0], on[1]);
  const maxDelayTicks = swarm.reordering === 'off' ? 1 : swarm.reordering === 'up' ? randomInt(rng, 5, 8) : randomInt(rng, 2, 4);
  const replicas = chance(rng, 0.5) ? 3 : 5;
  const drawn = drawTopology(rng, replicas, chance(rng, 0.5), 40);
  const topology = fixedTopology ?? drawn;
  const slowest = maxBaseDelayTicks(topology) + maxDelayTicks;
  const electionTimeoutTicks = 10 + 2 * slowest;
  const rho = rate('clock drift', [0.01, 0.1], [0.1, 0.3]);
  const quiet = swarm['going quiet'] !== 'off';
  const hasGroups = new Set(topology.members.map((m) => m.group)).size > 1;
  return {
    replicas: topology.members.length,
    topology,
    swarm,
    lossRate: rate('loss', [0, 0.15], [0.15, 0.35]),
    duplicateRate: rate('duplication', [0, 0.1], [0.1, 0.3]),
    maxDelayTicks,
    tailRate: rate('long-tail delay', [0.001, 0.01], [0.01, 0.04]),
    tailMaxTicks: (swarm['long-tail delay'] === 'up' ? randomInt(rng, 5, 20) : randomInt(rng, 2, 10)) * electionTimeoutTicks,
    holdRate: rate('adversary', [0.002, 0.01], [0.01, 0.04]),
    clocks: rho > 0 ? { rho, offsetMaxTicks: randomInt(rng, 1, 100), rateChangeRate: between(rng, 0.0005, 0.005) } : LOCKSTEP,
    stallRate: rate('host stalls', [0, 0.005], [0.005, 0.02]),
    crashRate: rate('crashes', [0, 0.005], [0.005, 0.02]),
    downTicksMax: randomInt(rng, 5, 100),
    crashBetweenPersistAndSendRate: rate('crashes between persist and send', [0, 0.001], [0.001, 0.004]),
    partitionRate: rate('partitions', [0, 0.01], [0.01, 0.03]),
    partitionTicksMax: randomInt(rng, 10, 200),
    regionOutageRate: hasGroups ? rate('region outages', [0, 0.001], [0.001, 0.003]) : 0,
    operatorRate: rate('operator actions', [0, 0.003], [0.003, 0.015]),
    membershipRate: rate('membership changes', [0, 0.004], [0.004, 0.03]),
    minorityRate: rate('minority force-start', [0.0003, 0.0015], [0.0015, 0.005]),
    compaction: swarm.compaction === 'off' ? null : swarm.compaction === 'up' ? { snapshotEverySlots: randomInt(rng, 5, 20), retainSlots: randomInt(rng, 0, 5) } : { snapshotEverySlots: randomInt(rng, 20, 150), retainSlots: randomInt(rng, 0, 40) },
    snapshotChunkChars: randomInt(rng, 50, 5000),
    // Drawn in runSimulation from a stream of their own (THRIFTY_SALT).
    thrifty: false,
    nearestFollowerFaultRate: 0,
    quietAfterTicks: !quiet ? 0 : swarm['going quiet'] === 'up' ? randomInt(rng, 5, 20) : randomInt(rng, 20, 100),
    quietPeriodRate: rate('quiet periods', [0.001, 0.004], [0.004, 0.015]),
    evictionRate: quiet ? rate('idle evictions', [0.01, 0.05], [0.05, 0.2]) : 0,
    pauseRate: rate('client pauses', [0, 0.1], [0.1, 0.3]),
    pendingMax: swarm['back-pressure'] === 'off' ? null : swarm['back-pressure'] === 'up' ? 1 : randomInt(rng, 2, 4),
    pauseTicksMax: randomInt(rng, 50, 400),
    clients: randomInt(rng, 2, 6),
    keys: randomInt(rng, 2, 5),
    clientTimeoutTicks: 3 * electionTimeoutTicks,
    giveUpRate: randomFloat(rng) * 0.2,
    timing: {
      heartbeatIntervalTicks: randomInt(rng, 1, 3),
      electionTimeoutTicks,
      inflightMax: randomInt(rng, 1, 8),
      batchMax: randomInt(rng, 1, 64),
      retransmitTicks: 2 * slowest + 2,
      catchupBatchMax: randomInt(rng, 1, 64),
    },
  };
}

/**
 * The stated liveness bound: once faults are healed, every pending operation
 * completes and all replicas converge within this many ticks. Electing a leader
 * takes a few election timeouts at worst (split votes); a client may need a
 * timeout to notice a lost attempt, then a retry; a lagging replica is caught
 * up `inflightMax * catchupBatchMax` slots per round trip; a minority drill
 * under way rebuilds and promotes back each lost replica (a configuration
 * change, a wipe and a catch-up each). Timers run on the replicas' clocks, so
 * the slowest clock (rate 1 − rho) stretches it all.
 */
export function livenessBoundTicks(k: Knobs, slotsToCatchUp: number): number {
  const t = k.timing;
  const roundTripTicks = 2 * k.maxDelayTicks + t.retransmitTicks;
  const catchUpRounds = Math.ceil(slotsToCatchUp / (t.inflightMax * t.catchupBatchMax));
  const drill = k.minorityRate > 0 ? k.replicas * (4 * t.electionTimeoutTicks + (catchUpRounds + 4) * roundTripTicks) : 0;
  const ticks = 10 * 2 * t.electionTimeoutTicks + 3 * k.clientTimeoutTicks + (catchUpRounds + 10) * roundTripTicks + drill;
  return Math.ceil(ticks / (1 - k.clocks.rho));
}

/** The stated settle time: a healthy stream with fail-back hands leadership to a top-priority replica within this. */
export function prioritySettleTicks(k: Knobs): number {
  return Math.ceil((6 * k.timing.electionTimeoutTicks) / (1 - k.clocks.rho));
}

export function reproduceCommand(opts: SimulationOptions): string {
  // A copy of the repository with a planted bug in it says how to plant it again (sim/mutate.ts sets this).
  let cmd = `${process.env.EDGEPAXOS_REPRODUCE ?? 'npm run sim --'} --seed ${opts.seed}`;
  if (opts.operations !== undefined && opts.operations !== (opts.coordination ? COORDINATION_KV_OPERATIONS : DEFAULT_OPERATIONS)) cmd += ` --ops ${opts.operations}`;
  if (opts.membershipRate !== undefined) cmd += ` --membership-rate ${opts.membershipRate}`;
  if (opts.stallRate !== undefined) cmd += ` --stall-rate ${opts.stallRate}`;
  if (opts.pendingMax !== undefined) cmd += ` --pending-max ${opts.pendingMax}`;
  // A planted bug's reproduce line (sim/mutate.ts) implies its campaign.
  if (opts.coordination && !process.env.EDGEPAXOS_REPRODUCE_CAMPAIGN_IMPLIED) cmd += ' --coordination';
  if (opts.coordinationOperations !== undefined && opts.coordinationOperations !== COORDINATION_OPERATIONS) cmd += ` --coordination-ops ${opts.coordinationOperations}`;
  if (opts.thrifty !== undefined) cmd += ` --thrifty ${opts.thrifty ? 'on' : 'off'}`;
  return cmd;
}

export function describeKnobs(k: Knobs): string {
  const t = k.timing;
  const off = FAULT_KINDS.filter((f) => k.swarm[f] === 'off');
  const up = FAULT_KINDS.filter((f) => k.swarm[f] === 'up');
  return [
    `swarm: off [${off.join(', ')}]; up [${up.join(', ')}]`,
    `replicas=${k.replicas} clients=${k.clients} keys=${k.keys}`,
    `loss=${pct(k.lossRate)} dup=${pct(k.duplicateRate)} delay=1..${k.maxDelayTicks} long-tail=${pct(k.tailRate)} up to +${k.tailMaxTicks} adversary-holds/tick=${pct(k.holdRate)}`,
    `clocks: rho=${k.clocks.rho.toFixed(3)} offsets<${k.clocks.offsetMaxTicks} rate-changes/tick=${pct(k.clocks.rateChangeRate)}; host stalls/tick=${pct(k.stallRate)}`,
    `crash/tick=${pct(k.crashRate)} down<=${k.downTicksMax} crash-between-persist-and-send=${pct(k.crashBetweenPersistAndSendRate)}`,
    `partition/tick=${pct(k.partitionRate)} partition<=${k.partitionTicksMax} region-outage/tick=${pct(k.regionOutageRate)}`,
    `client-timeout=${k.clientTimeoutTicks} give-up=${pct(k.giveUpRate)} pauses=${pct(k.pauseRate)} up to ${k.pauseTicksMax} ticks; waiting requests per replica<=${k.pendingMax ?? 'unlimited'}`,
    `heartbeat=${t.heartbeatIntervalTicks} election=${t.electionTimeoutTicks} inflight=${t.inflightMax} batch=${t.batchMax} retransmit=${t.retransmitTicks} catchup=${t.catchupBatchMax}`,
    `operator/tick=${pct(k.operatorRate)} membership-change/tick=${pct(k.membershipRate)} minority-drill/tick=${pct(k.minorityRate)}`,
    `quiet after ${k.quietAfterTicks || 'never'} ticks without a request; quiet periods/tick=${pct(k.quietPeriodRate)} idle evictions/tick=${pct(k.evictionRate)}`,
    `replication: ${k.thrifty ? `thrifty, nearest-follower faults/tick=${pct(k.nearestFollowerFaultRate)}` : 'full'}`,
    `compaction: ${k.compaction ? `snapshot every ${k.compaction.snapshotEverySlots} slots${k.compaction.scaleWithState ? ' or as many as the state holds records' : ''}, retain ${k.compaction.retainSlots}, chunks of ${k.snapshotChunkChars} chars` : 'off'}`,
    `topology: ${describeTopology(k.topology)}`,
  ].join('\n  ');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/**
 * One seeded run: a safety phase with every fault knob drawn from the seed,
 * then a liveness phase with faults healed; the invariants are checked after
 * every Ready and every input (SafetyChecker), linearizability of the client
 * history at the end.
 */
export function runSimulation(opts: SimulationOptions): SimulationResult {
  const rng = new SeededRng(opts.seed);
  const drawn = drawKnobs(rng, opts.topology);
  const thriftyRng = new SeededRng(opts.seed ^ THRIFTY_SALT);
  const thrifty = opts.thrifty ?? chance(thriftyRng, 0.5);
  const scaleWithState = chance(new SeededRng(opts.seed ^ COMPACTION_SALT), 0.5);
  const knobs: Knobs = {
    ...drawn,
    ...(drawn.compaction ? { compaction: { ...drawn.compaction, scaleWithState } } : {}),
    thrifty,
    nearestFollowerFaultRate: thrifty ? between(thriftyRng, 0, 0.01) : 0,
    ...(opts.regionOutageRate !== undefined ? { regionOutageRate: opts.regionOutageRate } : {}),
    ...(opts.membershipRate !== undefined ? { membershipRate: opts.membershipRate } : {}),
    ...(opts.stallRate !== undefined ? { stallRate: opts.stallRate } : {}),
    ...(opts.pendingMax !== undefined ? { pendingMax: opts.pendingMax } : {}),
  };
  const cluster = new SimCluster({
    replicas: knobs.topology.members,
    policy: knobs.topology.policy,
    priority: knobs.topology.priority,
    tickMs: knobs.topology.tickMs,
    ...(knobs.compaction ? { compaction: knobs.compaction } : {}),
    snapshotChunkChars: knobs.snapshotChunkChars,
    ...(knobs.quietAfterTicks ? { quietAfterTicks: knobs.quietAfterTicks } : {}),
    rng,
    timing: knobs.timing,
    clocks: knobs.clocks,
    network: {
      lossRate: knobs.lossRate,
      duplicateRate: knobs.duplicateRate,
      minDelayTicks: 1,
      maxDelayTicks: knobs.maxDelayTicks,
      tailRate: knobs.tailRate,
      tailMaxTicks: knobs.tailMaxTicks,
    },
    crashBetweenPersistAndSendRate: knobs.crashBetweenPersistAndSendRate,
    ...(knobs.pendingMax !== null ? { pendingMax: knobs.pendingMax } : {}),
    ...(knobs.thrifty ? { thrifty: DEFAULT_THRIFTY } : {}),
  });
  const operations = opts.operations ?? (opts.coordination ? COORDINATION_KV_OPERATIONS : DEFAULT_OPERATIONS);
  const workload = new Workload(cluster, rng, {
    clients: knobs.clients,
    keys: knobs.keys,
    operations,
    timeoutTicks: knobs.clientTimeoutTicks,
    giveUpRate: knobs.giveUpRate,
    pauseRate: knobs.pauseRate,
    pauseTicksMax: knobs.pauseTicksMax,
    stickyRate: 0.5,
  });
  const faults = new FaultSchedule(cluster, workload, rng, knobs);
  // Drawn after everything else, so a coordination run has the faults a plain run of its seed has (until the clients' draws interleave).
  const coordination = opts.coordination
    ? new CoordinationWorkload(cluster, rng, {
        bankClients: randomInt(rng, 1, 3),
        lockClients: randomInt(rng, 2, 4),
        watchers: randomInt(rng, 1, 3),
        operations: opts.coordinationOperations ?? COORDINATION_OPERATIONS,
        timeoutTicks: knobs.clientTimeoutTicks,
        giveUpRate: knobs.giveUpRate,
        ttlTicks: randomInt(rng, 3, 8) * knobs.timing.electionTimeoutTicks,
        tickMs: knobs.topology.tickMs ?? 10,
        rho: knobs.clocks.rho,
        dieRate: between(rng, 0.1, 0.4),
        watchTicksMax: randomInt(rng, 20, 300),
        progressEveryTicks: randomInt(rng, 5, 30),
      })
    : null;
  let bound = 0;
  const fail = (check: 'safety' | 'linearizability' | 'liveness' | 'watch', message: string, rule?: string): SimulationResult => ({
    ok: false,
    seed: opts.seed,
    coordination: opts.coordination === true,
    knobs,
    check,
    ...(rule !== undefined ? { rule } : {}),
    message,
    reproduce: reproduceCommand(opts),
    trace: cluster.log.slice(-Math.max(60, SimCluster.traceLines === 200 ? 60 : SimCluster.traceLines)),
  });

  let safetyTicks = 0;
  let livenessTicks = 0;
  try {
    // Safety phase: faults on, clients start their operations.
    const safetyTicksMax = SAFETY_TICKS_PER_OPERATION * (operations + (coordination?.options.operations ?? 0));
    while (!workload.exhausted || (coordination !== null && !coordination.exhausted)) {
      if (cluster.now >= safetyTicksMax) {
        return fail('liveness', `safety phase stuck: only ${workload.started} of ${operations} operations${coordination ? ` and ${coordination.started} of ${coordination.options.operations} coordination operations` : ''} started in ${safetyTicksMax} ticks (${cluster.describe()})`);
      }
      cluster.tick(() => {
        faults.step();
        workload.step();
        coordination?.step();
      });
    }
    safetyTicks = cluster.now;
    // Liveness phase: heal everything; what an operator started finishes; every pending operation completes and replicas converge.
    faults.healAll();
    workload.allowGiveUp = false;
    if (coordination) coordination.allowGiveUp = false;
    bound = livenessBoundTicks(knobs, Math.max(...cluster.ids.map((id) => cluster.replica(id).backing.entries.size)) + knobs.clients);
    const start = cluster.now;
    while (!(workload.idle && (coordination?.idle ?? true) && !faults.busy && cluster.converged())) {
      if (cluster.now - start >= bound) {
        const pending = workload.idle && (coordination?.idle ?? true) ? 'no operation pending' : 'operations still pending';
        return fail('liveness', `not converged within the stated bound of ${bound} ticks after healing (${pending}${faults.busy ? '; minority drill unfinished' : ''}; ${cluster.describe()})`);
      }
      cluster.tick(() => {
        faults.settle();
        cluster.reconcileRebuilds();
        workload.step();
        coordination?.step();
      });
    }
    // With priorities and fail-back on, a healthy stream settles on a top-priority leader (of the configuration in effect).
    const top = topPriority(cluster.currentConfiguration());
    if (knobs.topology.priority.enabled && knobs.topology.priority.failback) {
      const settle = prioritySettleTicks(knobs);
      const settleStart = cluster.now;
      while (!top.includes(cluster.leaderId() ?? -1)) {
        if (cluster.now - settleStart >= settle) {
          return fail('liveness', `leader ${cluster.leaderId()} is not of top priority (${top.join(', ')}) ${settle} ticks after convergence (${cluster.describe()})`);
        }
        cluster.tick(() => workload.step());
      }
    }
    livenessTicks = cluster.now - start;
    coordination?.checkTurns();
    if (knobs.thrifty) {
      const lag = thriftyLagEpilogue(cluster, knobs);
      if (lag !== null) return fail('liveness', lag);
    }
  } catch (e) {
    if (e instanceof SafetyViolation) return fail('safety', `${e.message} (tick ${cluster.now})`, e.rule);
    // An assertion that crashed a replica (the core's own, or the host's): a bug, reported with its seed like any other.
    if (e instanceof Error) return fail('safety', `${e.message} (tick ${cluster.now}; ${e.stack?.split('\n')[1]?.trim() ?? 'no stack'})`, 'assertion');
    throw e;
  }

  if (workload.completed + workload.gaveUp + workload.dropped < operations) {
    return fail('liveness', `only ${workload.completed + workload.gaveUp + workload.dropped} of ${operations} operations finished`);
  }
  const verdict = checkLinearizability(kvModel, workload.history);
  if (!verdict.ok) {
    return fail('linearizability', `${verdict.reason}: ${verdict.explanation}`);
  }
  if (coordination) {
    const coord = checkLinearizability(coordinationModel, coordination.checkedHistory());
    if (!coord.ok) return fail('linearizability', `coordination: ${coord.reason}: ${coord.explanation}`);
    const watch = coordination.checkWatches();
    if (watch !== null) return fail('watch', watch);
  }
  return {
    ok: true,
    seed: opts.seed,
    coordination: opts.coordination === true,
    knobs,
    stats: {
      safetyTicks,
      livenessTicks,
      livenessBoundTicks: bound,
      operations: workload.started,
      completed: workload.completed,
      gaveUp: workload.gaveUp,
      retries: workload.retries,
      overloaded: workload.overloaded,
      dropped: workload.dropped,
      decidedSlots: cluster.safety.decidedSlots,
      messagesSent: cluster.network.sent,
      messagesDropped: cluster.network.dropped,
      counts: {
        ...faults.collect(),
        'thrifty: lag checked': knobs.thrifty ? 1 : 0,
        'client: refused (overloaded)': workload.overloaded,
        'client: dropped after a refusal': workload.dropped,
        ...(coordination ? coordination.counts() : {}),
      },
      maxStoredEntries: Math.max(...cluster.ids.map((id) => cluster.replica(id).backing.entries.size)),
    },
  };
}

/**
 * Thrifty replication's stated lag, checked after a healed run: a steady
 * trickle of writes at the leader (one per round trip, far below a catch-up
 * window per heartbeat), and at every tick every voter's decided prefix
 * against the leader's (TrailingLagCheck). The bound: a trailing follower
 * knows decided what its leader had decided one heartbeat interval (on the
 * slowest clock) and one round trip ago, plus two ticks for the order of a
 * tick's events. The writes use keys of their own and are not part of the
 * clients' history. Returns what went wrong, or null.
 */
export function thriftyLagBoundTicks(k: Knobs): number {
  const roundTripTicks = 2 * (maxBaseDelayTicks(k.topology) + k.maxDelayTicks);
  return Math.ceil(k.timing.heartbeatIntervalTicks / (1 - k.clocks.rho)) + roundTripTicks + 2;
}

function thriftyLagEpilogue(c: SimCluster, k: Knobs): string | null {
  const bound = thriftyLagBoundTicks(k);
  const roundTripTicks = 2 * (maxBaseDelayTicks(k.topology) + k.maxDelayTicks);
  const check = new TrailingLagCheck(bound);
  let n = 0;
  let problem: string | null = null;
  for (let i = 0; i < 10 * bound && problem === null; i++) {
    c.tick(() => {
      const leader = c.leaderId();
      if (leader !== null && i % (roundTripTicks + 1) === 0) {
        c.propose(leader, { kind: 'put', id: `lag-${n}`, key: `lag-${n % 4}`, value: String(n) }, () => {});
        n += 1;
        c.drain(c.replica(leader));
      }
      const voters = new Map<ReplicaId, number>();
      for (const m of c.currentConfiguration().members) {
        if (m.id === leader || !isVoter(m)) continue;
        const st = c.replica(m.id).core?.status();
        if (st) voters.set(m.id, st.decidedThrough);
      }
      const decided = leader === null ? 0 : (c.replica(leader).core?.status().decidedThrough ?? 0);
      problem = check.observe(c.now, leader, decided, voters);
    });
  }
  return problem;
}

/**
 * A campaign's totals: how often each fault and operation happened over all
 * its runs, and in how many runs each fault kind was off or up (swarm).
 */
export class CampaignTotals {
  seeds = 0;
  /** Runs of the coordination campaign among them (their counters must move too). */
  coordinationSeeds = 0;
  operations = 0;
  readonly counts: Counts = Object.fromEntries(COUNTERS.map((k) => [k, 0]));
  readonly swarm = Object.fromEntries(FAULT_KINDS.map((k) => [k, { off: 0, on: 0, up: 0 }])) as Record<FaultKind, { off: number; on: number; up: number }>;

  add(r: SimulationResult): void {
    this.seeds += 1;
    if (r.coordination) this.coordinationSeeds += 1;
    for (const kind of FAULT_KINDS) this.swarm[kind][r.knobs.swarm[kind]] += 1;
    if (!r.ok) return;
    this.operations += r.stats.operations;
    for (const [k, v] of Object.entries(r.stats.counts)) this.counts[k] = (this.counts[k] ?? 0) + v;
  }

  /** Counters that never moved: a campaign that claims to exercise them and did not. */
  missing(): string[] {
    const counters: readonly string[] = this.coordinationSeeds > 0 ? [...COUNTERS, ...COORDINATION_COUNTERS] : COUNTERS;
    return counters.filter((k) => (this.counts[k] ?? 0) === 0);
  }

  /** A printable summary, a few counters per line. */
  describe(): string {
    const lines: string[] = [];
    const counts = (this.coordinationSeeds > 0 ? [...COUNTERS, ...COORDINATION_COUNTERS] : COUNTERS).map((k) => `${k} ${this.counts[k] ?? 0}`);
    for (let i = 0; i < counts.length; i += 4) lines.push(`  ${counts.slice(i, i + 4).join(' · ')}`);
    const swarm = FAULT_KINDS.map((k) => `${k} ${this.swarm[k].off}/${this.swarm[k].on}/${this.swarm[k].up}`);
    lines.push('  swarm (runs with each kind off/on/up):');
    for (let i = 0; i < swarm.length; i += 4) lines.push(`    ${swarm.slice(i, i + 4).join(' · ')}`);
    return `faults and operations over ${this.seeds} runs (${this.operations} client operations):\n${lines.join('\n')}`;
  }
}
