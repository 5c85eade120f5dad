import {
  type Member,
  type ReplicaId,
  type Rng,
  type TestOnlyBugs,
  SeededRng,
  chance,
  isElectable,
  randomBelow,
  randomFloat,
  randomInt,
} from '../src/core/index.ts';
import { checkLinearizability } from './checker/linearizability.ts';
import { kvModel } from './checker/kv-model.ts';
import type { CompactionPolicy } from '../src/host/ready-runner.ts';
import { type Timing, SimCluster } from './cluster.ts';
import { type Topology, describeTopology, drawTopology, maxBaseDelayTicks, topPriority } from './topology.ts';
import { SafetyViolation } from './safety.ts';
import { Workload } from './workload.ts';

/** The deliberately broken cores the simulator must catch, by the name the CLI takes. */
export const BUGS: Readonly<Record<string, TestOnlyBugs>> = Object.freeze({
  'forget-promise-on-restart': { forgetPromiseOnRestart: true },
  'skip-reproposal': { skipReproposal: true },
  'promise-without-persist': { promiseWithoutPersist: true },
  'trust-decided-index-blindly': { trustDecidedIndexBlindly: true },
  'read-without-confirmation': { readWithoutConfirmation: true },
  'ignore-phase2-policy': { ignorePhase2Policy: true },
  'never-hand-over': { neverHandOver: true },
});

/** Every fault knob of one run, all drawn from the seed. */
export interface Knobs {
  readonly replicas: number;
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly maxDelayTicks: number;
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
  /** Per tick: probability of an operator action (switchover, step-down, promote, run mode off/on). */
  readonly operatorRate: number;
  /** Per tick: probability of a membership change (add a learner, promote, demote, remove, change priority or weight). */
  readonly membershipRate: number;
  /** Snapshots and log compaction (null: the log is kept whole). */
  readonly compaction: CompactionPolicy | null;
  /**
   * Per tick: probability that replica hosts stall (not run for up to three
   * election timeouts: one replica, or all together as local workerd does to
   * idle objects). Not drawn from the seed (0 unless an option sets it), so
   * adding it changed no existing seed's run.
   */
  readonly stallRate: number;
  /** Going quiet after this many ticks without a request (0: never), and client pauses that let the stream go quiet. */
  readonly quietAfterTicks: number;
  readonly pauseRate: number;
  readonly pauseTicksMax: number;
  readonly snapshotChunkChars: number;
  readonly timing: Timing;
  readonly topology: Topology;
}

export interface SimulationOptions {
  readonly seed: number;
  /** Client operations started during the safety phase (default 500). */
  readonly operations?: number;
  /** A name from BUGS, to run a deliberately broken core. */
  readonly bug?: string;
  /** A fixed topology instead of one drawn from the seed (scenario tests). */
  readonly topology?: Topology;
  /** A fixed rate of whole-region outages per tick instead of one drawn from the seed. */
  readonly regionOutageRate?: number;
  /** A fixed rate of membership changes per tick instead of one drawn from the seed. */
  readonly membershipRate?: number;
  /** A rate of host stalls per tick (default 0: see Knobs.stallRate). */
  readonly stallRate?: number;
  /**
   * Back-pressure: requests that may wait at a replica at once (default:
   * unlimited). Not drawn from the seed, so adding it changed no existing seed's run.
   */
  readonly pendingMax?: number;
}

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
  readonly crashes: number;
  readonly partitions: number;
  readonly messagesSent: number;
  readonly messagesDropped: number;
  readonly snapshotsInstalled: number;
  /** Membership changes decided. */
  readonly membershipChanges: number;
  /** Host stalls that ended in the core's resume (the rest replayed the missed ticks). */
  readonly stallsForgiven: number;
  /** Restarts that came back quiet instead of starting an election (of which leading). */
  readonly quietRestarts: number;
  readonly quietLeaderRestarts: number;
  /** The most entries any replica held in storage at the end. */
  readonly maxStoredEntries: number;
}

export type SimulationResult =
  | { readonly ok: true; readonly seed: number; readonly knobs: Knobs; readonly stats: SimulationStats }
  | {
      readonly ok: false;
      readonly seed: number;
      readonly knobs: Knobs;
      /** Which check failed: safety, linearizability, or liveness. */
      readonly check: 'safety' | 'linearizability' | 'liveness';
      readonly message: string;
      /** The one line that reproduces this run. */
      readonly reproduce: string;
      readonly trace: readonly string[];
    };

export const DEFAULT_OPERATIONS = 500;
/** A safety phase that has not started every operation within this many ticks per operation counts as stuck. */
const SAFETY_TICKS_PER_OPERATION = 120;

export function drawKnobs(rng: Rng, fixedTopology?: Topology): Knobs {
  const maxDelayTicks = randomInt(rng, 1, 6);
  const replicas = chance(rng, 0.5) ? 3 : 5;
  const drawn = drawTopology(rng, replicas, chance(rng, 0.5), 40);
  const topology = fixedTopology ?? drawn;
  const slowest = maxBaseDelayTicks(topology) + maxDelayTicks;
  const electionTimeoutTicks = 10 + 2 * slowest;
  return {
    replicas: topology.members.length,
    topology,
    regionOutageRate: chance(rng, 0.3) ? randomFloat(rng) * 0.002 : 0,
    operatorRate: chance(rng, 0.5) ? randomFloat(rng) * 0.004 : 0,
    membershipRate: chance(rng, 0.5) ? randomFloat(rng) * 0.006 : 0,
    compaction: chance(rng, 0.5) ? { snapshotEverySlots: randomInt(rng, 5, 150), retainSlots: randomInt(rng, 0, 40) } : null,
    snapshotChunkChars: randomInt(rng, 50, 5000),
    quietAfterTicks: chance(rng, 0.5) ? randomInt(rng, 5, 100) : 0,
    pauseRate: chance(rng, 0.5) ? randomFloat(rng) * 0.1 : 0,
    pauseTicksMax: randomInt(rng, 50, 400),
    stallRate: 0,
    lossRate: randomFloat(rng) * 0.3,
    duplicateRate: randomFloat(rng) * 0.2,
    maxDelayTicks,
    crashRate: randomFloat(rng) * 0.01,
    downTicksMax: randomInt(rng, 5, 100),
    crashBetweenPersistAndSendRate: randomFloat(rng) * 0.002,
    partitionRate: randomFloat(rng) * 0.02,
    partitionTicksMax: randomInt(rng, 10, 200),
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
 * timeout to notice a lost attempt, then a retry; and a lagging replica is
 * caught up `inflightMax * catchupBatchMax` slots per round trip.
 */
export function livenessBoundTicks(k: Knobs, slotsToCatchUp: number): number {
  const t = k.timing;
  const roundTripTicks = 2 * k.maxDelayTicks + t.retransmitTicks;
  const catchUpRounds = Math.ceil(slotsToCatchUp / (t.inflightMax * t.catchupBatchMax));
  return 10 * 2 * t.electionTimeoutTicks + 3 * k.clientTimeoutTicks + (catchUpRounds + 10) * roundTripTicks;
}

/** The stated settle time: a healthy stream with fail-back hands leadership to a top-priority replica within this. */
export function prioritySettleTicks(k: Knobs): number {
  return 6 * k.timing.electionTimeoutTicks;
}

export function reproduceCommand(opts: SimulationOptions): string {
  let cmd = `npm run sim -- --seed ${opts.seed}`;
  if (opts.operations !== undefined && opts.operations !== DEFAULT_OPERATIONS) cmd += ` --ops ${opts.operations}`;
  if (opts.bug) cmd += ` --bug ${opts.bug}`;
  if (opts.membershipRate !== undefined) cmd += ` --membership-rate ${opts.membershipRate}`;
  if (opts.stallRate !== undefined && opts.stallRate > 0) cmd += ` --stall-rate ${opts.stallRate}`;
  if (opts.pendingMax !== undefined) cmd += ` --pending-max ${opts.pendingMax}`;
  return cmd;
}

export function describeKnobs(k: Knobs): string {
  const t = k.timing;
  return [
    `replicas=${k.replicas} clients=${k.clients} keys=${k.keys}`,
    `loss=${pct(k.lossRate)} dup=${pct(k.duplicateRate)} delay=1..${k.maxDelayTicks}`,
    `crash/tick=${pct(k.crashRate)} down<=${k.downTicksMax} crash-between-persist-and-send=${pct(k.crashBetweenPersistAndSendRate)}`,
    `partition/tick=${pct(k.partitionRate)} partition<=${k.partitionTicksMax}`,
    `client-timeout=${k.clientTimeoutTicks} give-up=${pct(k.giveUpRate)}`,
    `heartbeat=${t.heartbeatIntervalTicks} election=${t.electionTimeoutTicks} inflight=${t.inflightMax} batch=${t.batchMax} retransmit=${t.retransmitTicks} catchup=${t.catchupBatchMax}`,
    `region-outage/tick=${pct(k.regionOutageRate)} operator/tick=${pct(k.operatorRate)} membership-change/tick=${pct(k.membershipRate)}`,
    `quiet after ${k.quietAfterTicks || 'never'} ticks without a request; client pauses ${pct(k.pauseRate)} up to ${k.pauseTicksMax} ticks; host stalls/tick=${pct(k.stallRate)}`,
    `compaction: ${k.compaction ? `snapshot every ${k.compaction.snapshotEverySlots} slots, retain ${k.compaction.retainSlots}, chunks of ${k.snapshotChunkChars} chars` : 'off'}`,
    `topology: ${describeTopology(k.topology)}`,
  ].join('\n  ');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/**
 * One seeded run: a safety phase with every fault knob drawn from the seed,
 * then a liveness phase with faults healed; safety is checked after every
 * Ready, linearizability of the client history at the end.
 */
export function runSimulation(opts: SimulationOptions): SimulationResult {
  const rng = new SeededRng(opts.seed);
  const drawn = drawKnobs(rng, opts.topology);
  const knobs = {
    ...drawn,
    ...(opts.regionOutageRate !== undefined ? { regionOutageRate: opts.regionOutageRate } : {}),
    ...(opts.membershipRate !== undefined ? { membershipRate: opts.membershipRate } : {}),
    stallRate: opts.stallRate ?? 0,
  };
  const bugs = opts.bug === undefined ? undefined : BUGS[opts.bug];
  if (opts.bug !== undefined && !bugs) throw new Error(`unknown bug '${opts.bug}'; known: ${Object.keys(BUGS).join(', ')}`);
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
    network: { lossRate: knobs.lossRate, duplicateRate: knobs.duplicateRate, minDelayTicks: 1, maxDelayTicks: knobs.maxDelayTicks },
    crashBetweenPersistAndSendRate: knobs.crashBetweenPersistAndSendRate,
    ...(bugs ? { bugs } : {}),
    ...(opts.pendingMax !== undefined ? { pendingMax: opts.pendingMax } : {}),
  });
  const operations = opts.operations ?? DEFAULT_OPERATIONS;
  const workload = new Workload(cluster, rng, {
    clients: knobs.clients,
    keys: knobs.keys,
    operations,
    timeoutTicks: knobs.clientTimeoutTicks,
    giveUpRate: knobs.giveUpRate,
    pauseRate: knobs.pauseRate,
    pauseTicksMax: knobs.pauseTicksMax,
  });
  const faults = new FaultSchedule(cluster, rng, knobs);
  let bound = 0;
  const fail = (check: 'safety' | 'linearizability' | 'liveness', message: string): SimulationResult => ({
    ok: false,
    seed: opts.seed,
    knobs,
    check,
    message,
    reproduce: reproduceCommand(opts),
    trace: cluster.log.slice(-60),
  });

  let safetyTicks = 0;
  let livenessTicks = 0;
  try {
    // Safety phase: faults on, clients start their operations.
    const safetyTicksMax = SAFETY_TICKS_PER_OPERATION * operations;
    while (!workload.exhausted) {
      if (cluster.now >= safetyTicksMax) {
        return fail('liveness', `safety phase stuck: only ${workload.started} of ${operations} operations started in ${safetyTicksMax} ticks (${cluster.describe()})`);
      }
      cluster.tick(() => {
        faults.step();
        workload.step();
      });
    }
    safetyTicks = cluster.now;
    // Liveness phase: heal everything; every pending operation must complete and replicas converge.
    faults.healAll();
    workload.allowGiveUp = false;
    bound = livenessBoundTicks(knobs, Math.max(...cluster.ids.map((id) => cluster.replica(id).backing.entries.size)) + knobs.clients);
    const start = cluster.now;
    while (!(workload.idle && cluster.converged())) {
      if (cluster.now - start >= bound) {
        const pending = workload.idle ? 'no operation pending' : 'operations still pending';
        return fail('liveness', `not converged within the stated bound of ${bound} ticks after healing (${pending}; ${cluster.describe()})`);
      }
      cluster.tick(() => {
        cluster.reconcileRebuilds();
        workload.step();
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
  } catch (e) {
    if (e instanceof SafetyViolation) return fail('safety', `${e.message} (tick ${cluster.now})`);
    throw e;
  }

  if (workload.completed + workload.gaveUp + workload.dropped < operations) {
    return fail('liveness', `only ${workload.completed + workload.gaveUp + workload.dropped} of ${operations} operations finished`);
  }
  const verdict = checkLinearizability(kvModel, workload.history);
  if (!verdict.ok) {
    return fail('linearizability', `${verdict.reason}: ${verdict.explanation}`);
  }
  return {
    ok: true,
    seed: opts.seed,
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
      crashes: faults.crashes,
      partitions: faults.partitions,
      messagesSent: cluster.network.sent,
      messagesDropped: cluster.network.dropped,
      snapshotsInstalled: cluster.snapshotsInstalled,
      membershipChanges: cluster.safety.decidedConfigurationChanges,
      stallsForgiven: cluster.stallsForgiven,
      quietRestarts: cluster.quietRestarts,
      quietLeaderRestarts: cluster.quietLeaderRestarts,
      maxStoredEntries: Math.max(...cluster.ids.map((id) => cluster.replica(id).backing.entries.size)),
    },
  };
}

/** Crashes, restarts and partitions during the safety phase, drawn from the run's PRNG. */
class FaultSchedule {
  crashes = 0;
  partitions = 0;
  private readonly restartAt = new Map<ReplicaId, number>();
  private healAt = -1;
  /** Run mode is manual (automatic elections off) until this tick. */
  private manualUntil = -1;
  private autoElectionOff = false;
  private readonly cluster: SimCluster;
  private readonly rng: Rng;
  private readonly k: Knobs;

  constructor(cluster: SimCluster, rng: Rng, knobs: Knobs) {
    this.cluster = cluster;
    this.rng = rng;
    this.k = knobs;
  }

  step(): void {
    const c = this.cluster;
    const now = c.now;
    for (const [id, at] of this.restartAt) {
      if (now >= at) {
        this.restartAt.delete(id);
        c.restart(id);
      }
    }
    // A crash between persist and send happens inside the cluster; schedule its restart too.
    for (const id of c.ids) {
      if (!c.replica(id).up && !this.restartAt.has(id)) this.restartAt.set(id, now + randomInt(this.rng, 1, this.k.downTicksMax));
    }
    if (this.manualUntil >= 0 && now >= this.manualUntil) {
      c.setAutoElection(true);
      this.autoElectionOff = false;
      this.manualUntil = -1;
      c.trace('operator: run mode automatic');
    }
    if (chance(this.rng, this.k.operatorRate)) this.operatorAction();
    if (chance(this.rng, this.k.membershipRate)) this.membershipChange();
    c.reconcileRebuilds();
    if (chance(this.rng, this.k.regionOutageRate)) {
      // A whole region (group) goes down at once.
      const members = c.currentConfiguration().members;
      const group = members[randomBelow(this.rng, members.length)]!.group;
      const down = members.filter((m) => m.group === group).map((m) => m.id);
      c.trace(`region outage: group ${group} (replicas ${down.join(', ')})`);
      for (const id of down) {
        if (!c.replica(id).up) continue;
        this.crashes += 1;
        c.crash(id, 'region outage');
        this.restartAt.set(id, now + randomInt(this.rng, 1, this.k.downTicksMax));
      }
    }
    if (chance(this.rng, this.k.crashRate)) {
      const up = c.upIds();
      const leader = c.leaderId();
      const victim = leader !== null && chance(this.rng, 0.5) ? leader : up[randomBelow(this.rng, Math.max(1, up.length))];
      if (victim !== undefined && c.replica(victim).up) {
        this.crashes += 1;
        c.crash(victim);
        this.restartAt.set(victim, now + randomInt(this.rng, 1, this.k.downTicksMax));
      }
    }
    if (chance(this.rng, this.k.stallRate)) {
      // One host, or every host at once (local workerd holds back every idle object's alarms while another is busy).
      const up = c.upIds();
      const who = chance(this.rng, 0.5) ? up : up.slice(randomBelow(this.rng, Math.max(1, up.length))).slice(0, 1);
      if (who.length > 0) c.stallReplicas(who, randomInt(this.rng, 1, 3 * this.k.timing.electionTimeoutTicks));
    }
    if (this.healAt >= 0 && now >= this.healAt) {
      c.network.heal();
      c.trace('partition healed');
      this.healAt = -1;
    } else if (this.healAt < 0 && chance(this.rng, this.k.partitionRate)) {
      this.partitions += 1;
      this.healAt = now + randomInt(this.rng, 5, this.k.partitionTicksMax);
      this.partition();
    }
  }

  private partition(): void {
    const c = this.cluster;
    const ids = [...c.ids];
    const kind = randomBelow(this.rng, 4);
    const leader = c.leaderId();
    if (kind === 0 && leader !== null) {
      c.network.isolate(leader, ids);
      c.trace(`partition: leader ${leader} isolated`);
    } else if (kind <= 1) {
      shuffle(this.rng, ids);
      const minority = ids.slice(0, Math.floor(ids.length / 2));
      c.network.partition([minority, ids.slice(minority.length)]);
      c.trace(`partition: [${minority}] | [${ids.slice(minority.length)}]`);
    } else if (kind === 2) {
      const a = ids[randomBelow(this.rng, ids.length)]!;
      c.network.isolate(a, ids);
      c.trace(`partition: replica ${a} isolated`);
    } else {
      const cuts = randomInt(this.rng, 1, ids.length);
      for (let i = 0; i < cuts; i++) {
        const from = ids[randomBelow(this.rng, ids.length)]!;
        const to = ids[randomBelow(this.rng, ids.length)]!;
        if (from !== to) c.network.cutOneWay(from, to);
      }
      c.trace(`partition: one-way cuts ${c.network.describeCuts()}`);
    }
  }

  /**
   * What an operator might do mid-run. With priorities and fail-back on, an
   * operator moves leadership only to a top-priority replica (anything else
   * would stick until the next election, by design), so the settle check holds.
   */
  private operatorAction(): void {
    const c = this.cluster;
    const t = { ...this.k.topology, members: c.currentConfiguration().members };
    const leader = c.leaderId();
    const failback = t.priority.enabled && t.priority.failback;
    const candidates = (failback ? topPriority(t) : t.members.filter(isElectable).map((m) => m.id)).filter((id) => c.replica(id).up);
    const pick = candidates[randomBelow(this.rng, Math.max(1, candidates.length))];
    const kind = randomBelow(this.rng, 4);
    if (kind === 0 && leader !== null && pick !== undefined) {
      const r = c.replica(leader).core!.transferLeadership(pick);
      c.trace(`operator: switchover ${leader} -> ${pick}: ${r.ok ? 'started' : r.message}`);
    } else if (kind === 1 && leader !== null && !failback) {
      const r = c.replica(leader).core!.stepDown();
      c.trace(`operator: step-down of ${leader}: ${r.ok ? `to ${r.target}` : r.message}`);
    } else if (kind === 2 && pick !== undefined) {
      const r = c.replica(pick).core!.campaignNow();
      c.trace(`operator: promote ${pick}: ${r.ok ? 'campaigning' : r.message}`);
    } else if (kind === 3 && !this.autoElectionOff) {
      c.setAutoElection(false);
      this.autoElectionOff = true;
      this.manualUntil = c.now + randomInt(this.rng, 20, 300);
      c.trace('operator: run mode manual');
    }
    c.flush();
  }

  /**
   * A membership change at the leader, as an operator would make it: add a new
   * replica as a learner (passive), promote a learner, demote or remove a
   * replica that does not lead, or change a priority or weight. The core
   * refuses what is unsafe or could not decide; that is traced and fine.
   */
  private membershipChange(): void {
    const c = this.cluster;
    const leader = c.leaderId();
    if (leader === null) return;
    const core = c.replica(leader).core!;
    const config = core.status().configuration;
    const members = [...config.members];
    const others = members.filter((m) => m.id !== leader);
    const pickOf = <T>(xs: readonly T[]): T | undefined => xs[randomBelow(this.rng, Math.max(1, xs.length))];
    let next: Member[] | null = null;
    let added: Member | null = null;
    switch (randomBelow(this.rng, 6)) {
      case 0: {
        if (members.length >= 7) break;
        const id = Math.max(...c.ids) + 1;
        const like = pickOf(members)!;
        added = { id, role: 'passive', priority: randomBelow(this.rng, 4), weight: 1, group: like.group, ...(like.region ? { region: like.region } : {}) };
        next = [...members, added];
        break;
      }
      case 1: {
        const learner = pickOf(members.filter((m) => m.role === 'passive'));
        if (learner) next = members.map((m) => (m.id === learner.id ? { ...m, role: 'electable' as const } : m));
        break;
      }
      case 2: {
        const victim = pickOf(others.filter((m) => m.role === 'electable'));
        if (victim) next = members.map((m) => (m.id === victim.id ? { ...m, role: 'passive' as const } : m));
        break;
      }
      case 3: {
        const victim = pickOf(others);
        if (victim) next = members.filter((m) => m.id !== victim.id);
        break;
      }
      case 5: {
        // Rebuild a replica in place: a new incarnation as a learner; it restarts blank once that is decided.
        const victim = pickOf(others.filter((m) => m.role !== 'logger'));
        if (victim) c.startRebuild(leader, victim.id);
        c.flush();
        return;
      }
      default: {
        const target = pickOf(members)!;
        const change = chance(this.rng, 0.5) ? { priority: randomBelow(this.rng, 4) } : { weight: randomInt(this.rng, 1, 3) };
        next = members.map((m) => (m.id === target.id ? { ...m, ...change } : m));
        break;
      }
    }
    if (!next) return;
    const res = c.reconfigure(leader, { members: next, policy: config.policy });
    if (res.ok && added) c.addReplica(added);
    c.flush();
  }

  healAll(): void {
    const c = this.cluster;
    c.network.heal();
    c.network.faults.lossRate = 0;
    c.network.faults.duplicateRate = 0;
    c.crashBetweenPersistAndSendRate = 0;
    for (const id of c.ids) c.restart(id);
    c.unstallAll();
    c.setAutoElection(true);
    this.autoElectionOff = false;
    this.manualUntil = -1;
    this.restartAt.clear();
    this.healAt = -1;
    c.trace('liveness phase: all faults healed');
  }
}

function shuffle<T>(rng: Rng, xs: T[]): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomBelow(rng, i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
