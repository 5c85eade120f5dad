import {
  type Ballot,
  type ClientCommand,
  type ProposeResult,
  type ReadIndexResult,
  type ReplicaTiming,
  type ReplicaId,
  type CompiledConfiguration,
  type Configuration,
  type ConfigCommand,
  type ExplainingQuorumPolicy,
  type Member,
  type Message,
  type OperatorResult,
  type PolicySpec,
  type PriorityOptions,
  type Rng,
  type Entry,
  type ReplicaEvent,
  type ThriftyOptions,
  AdaptiveFlowController,
  compileConfiguration,
  describeChange,
  electableMember,
  DEFAULT_TIMING,
  SeededRng,
  ballotGreater,
  chance,
  checkQuorumOverride,
  formatBallot,
} from '../src/core/index.ts';
import { type KvChange, type KvItem, type KvOptions, type KvResult, KvStateMachine } from '../src/kv/index.ts';
import { type Region, regionRttMs } from '../src/host/regions.ts';
import { HostClock } from '../src/host/host-clock.ts';
import { WatchHub } from '../src/host/watch-hub.ts';
import { LeaseKeeper } from '../src/kv/lease-keeper.ts';
import { type FollowOptions, TrafficFollower } from '../src/kv/traffic-follower.ts';
import { MemoryBacking, MemoryStorage } from '../src/host/memory-storage.ts';
import { type CompactionPolicy, type Overloaded, type ProposalOutcome as RunnerOutcome, type ReadyObserver, ReadyRunner, allDuties } from '../src/host/ready-runner.ts';
import { type SeedSpec, needsSeed, seedDelta } from '../src/host/seed.ts';
import { type ClockModel, LOCKSTEP, SimClock } from './clock.ts';
import { type NetworkFaults, SimNetwork } from './network.ts';
import { SafetyChecker } from './safety.ts';
import { NearestQuorumCheck } from './thrifty-check.ts';

export type Timing = ReplicaTiming;

/** A simulated replica's configuration: a member, optionally pinned to a region. */
export interface SimMember extends Member {
  readonly region?: Region;
}

/** What a quorum requires beyond weights (DCF policy majority: required groups or regions) and flexible sizes. */
export type SimPolicy = PolicySpec;

export interface ClusterOptions {
  /** A count of equal followers, or the members in full. */
  readonly replicas: number | readonly SimMember[];
  readonly policy?: SimPolicy;
  readonly priority?: PriorityOptions;
  /** Milliseconds per tick; with regions set, a message between two regions takes half their round trip. */
  readonly tickMs?: number;
  /** Snapshots and log compaction; none when absent. */
  readonly compaction?: CompactionPolicy;
  /** Characters per install-snapshot message. */
  readonly snapshotChunkChars?: number;
  /** Streams go quiet after this many ticks without a request (absent: never). */
  readonly quietAfterTicks?: number;
  /** The one PRNG of the run; the cluster draws per-replica seeds and network randomness from it. */
  readonly rng: Rng;
  readonly timing?: Partial<Timing>;
  readonly network?: Partial<NetworkFaults>;
  /** Probability that a replica crashes after persisting a Ready and before sending its messages. */
  readonly crashBetweenPersistAndSendRate?: number;
  readonly kv?: KvOptions;
  /** How replicas' clocks stray from true time (default: lockstep, every replica ticks with true time). */
  readonly clocks?: ClockModel;
  /** Back-pressure: requests that may wait at a replica at once (ReadyRunner.pendingMax); unlimited when absent. */
  readonly pendingMax?: number;
  /** Thrifty replication on every replica (src/core/thrifty.ts); absent: every batch to every follower. */
  readonly thrifty?: ThriftyOptions;
  /**
   * Adaptive flow control as the Durable Object host runs it (an
   * AdaptiveFlowController per replica life, fed after every drain with the
   * simulated time in milliseconds); absent: the core's fixed limits.
   */
  readonly adaptiveFlow?: boolean;
  /**
   * A stream restored from a snapshot (src/host/seed.ts): the bootstrap
   * replicas start from this state machine snapshot at `slot`, and each stays
   * down (takes no part at all, as the Durable Object host refuses every call)
   * until `seedReplica` delivers it.
   */
  readonly seed?: { readonly slot: number; readonly data: string };
  /** Broken on purpose (tests only): replicas of a restored stream run without their seed, as blank ones. */
  readonly testOnlyIgnoreSeedGate?: boolean;
  /** `leaders: follow`: every replica life runs a traffic follower beside its lease keeper, as the Durable Object host does for such a shard. */
  readonly follow?: FollowOptions;
}

/** The KV application's runner: every simulated replica runs the key-value state machine. */
export type SimRunner = ReadyRunner<KvResult, KvStateMachine>;
export type ProposalOutcome = RunnerOutcome<KvResult>;
export type ReadOutcome = { readonly kind: 'value'; readonly item: KvItem | undefined } | { readonly kind: 'dropped' };

/**
 * The highest slot a minority force-start cannot lose: survivors' decided
 * indexes `decided`, any `voteNum` of whom may elect the first leader of the
 * new epoch. The worst such group holds the `voteNum` least informed; the best
 * of them decided through the (k − voteNum + 1)-th highest index.
 */
export function guaranteedThrough(decided: readonly number[], voteNum: number): number {
  const sorted = [...decided].sort((a, b) => b - a);
  return sorted[sorted.length - voteNum] ?? 0;
}

/**
 * One simulated replica process, across its lives: storage that survives its
 * crashes, the runner of its current life (ReadyRunner, as in production) and
 * its host's clock.
 */
export class SimProcess {
  readonly id: ReplicaId;
  /** What survives a crash: exactly what the replica's Readies asked to persist. */
  readonly backing = new MemoryBacking();
  runner: SimRunner | null = null;
  /** Bumped on every restart, so a ballot reused by a restarted process can be told apart. */
  incarnation = 0;
  /** Messages this process life has sent (an adversary waits for a restarted process to speak). */
  sentThisLife = 0;
  /** Stalled (its host not run: no ticks, messages held) until true tick `until`; null when running. */
  stall: { readonly until: number; readonly held: Message[] } | null = null;
  /**
   * Its host's clock rule, per life, counting in local ticks: the late-wake
   * rule of the Durable Object host (src/host/host-clock.ts), fed the machine
   * clock's readings.
   */
  clock: HostClock | null = null;
  /** The machine's clock (sim/clock.ts): it survives crashes; true time is the simulator's. */
  readonly machineClock: SimClock;
  /** Its host's adaptive flow controller, when the cluster runs one (a new one each life, as a restarted host starts one). */
  flow: AdaptiveFlowController | null = null;

  constructor(id: ReplicaId, machineClock: SimClock) {
    this.id = id;
    this.machineClock = machineClock;
  }

  get up(): boolean {
    return this.runner !== null;
  }

  /**
   * The live process as its host sees it (null while down): the runner, the
   * only road to the core (status, operator controls, inputs).
   */
  get core(): SimRunner | null {
    return this.runner;
  }

  /** The state machine the live process applies to (throws if down; a logger's stays empty). */
  get sm(): KvStateMachine {
    if (!this.runner || !this.kv) throw new Error(`replica ${this.id} is down`);
    return this.kv;
  }

  /** The state machine this life of the replica was given (the simulator, like any host, owns it and reads it). */
  kv: KvStateMachine | null = null;
  /** This life's watch history and watchers (as the Durable Object host keeps them: gone with the process). */
  watches: WatchHub | null = null;
  /** This life's lease deadlines, run as the runner's leader duties (as the Durable Object host does). */
  leases: LeaseKeeper | null = null;
  /** This life's traffic follower, with `follow` (src/kv/traffic-follower.ts). */
  follower: TrafficFollower | null = null;
}

/** What a coordination workload hears of every entry applied anywhere (sim/coordination.ts). */
export interface ApplyListener {
  afterApply(r: SimProcess, e: Entry, result: KvResult): void;
  /** The changes the entry at `revision` made, told before its afterApply (none: not called). */
  changed(r: SimProcess, revision: number, changes: readonly KvChange[]): void;
}

/**
 * A deterministic cluster: replicas, a simulated network and storage, driven
 * tick by tick. Safety is checked after every Ready a replica processes.
 * Scenario tests drive it by hand; `runSimulation` drives it from a seed.
 */
export class SimCluster {
  /** Every replica ever started, members or not (membership changes add and remove them). */
  readonly ids: ReplicaId[];
  /** The bootstrap members. */
  readonly members: readonly SimMember[];
  /** The bootstrap configuration every replica starts from. */
  readonly configuration: Configuration;
  readonly bootstrap: CompiledConfiguration;
  readonly quorum: ExplainingQuorumPolicy;
  readonly replicas = new Map<ReplicaId, SimProcess>();
  readonly network: SimNetwork;
  readonly safety: SafetyChecker;
  readonly timing: Timing;
  /** True time in ticks: the end of the last tick run. */
  now = 0;
  /** True time of the event being run (a delivery or a replica's tick inside the current tick; `now` between ticks). */
  eventTime = 0;
  /** Milliseconds per tick (the adaptive flow controller counts in milliseconds, as the host does). */
  private readonly tickMs: number;
  readonly clocks: ClockModel;
  /** Replicas clients cannot reach (an operator cut them off: a minority force-start's lost replicas until rebuilt). */
  readonly cutOffFromClients = new Set<ReplicaId>();
  crashBetweenPersistAndSendRate: number;
  /** Snapshots installed by lagging replicas so far. */
  snapshotsInstalled = 0;
  /** Run mode, as an operator sets it on every replica; a restarted replica starts in it too. */
  private autoElection = true;
  /** A strictly increasing counter for client call/return times (linearizability needs distinct instants). */
  private instant = 0;
  private readonly rng: Rng;
  private readonly options: ClusterOptions;
  readonly log: string[] = [];
  /** Trace lines kept (the last ones); a debugging session may raise it. */
  static traceLines = 200;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.rng = options.rng;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.crashBetweenPersistAndSendRate = options.crashBetweenPersistAndSendRate ?? 0;
    this.clocks = options.clocks ?? LOCKSTEP;
    this.network = new SimNetwork(this.rng, {
      minDelayTicks: 1,
      maxDelayTicks: 1,
      ...options.network,
    });
    this.members =
      typeof options.replicas === 'number' ? Array.from({ length: options.replicas }, (_, i): SimMember => ({ ...electableMember(i + 1), region: undefined })) : [...options.replicas];
    this.ids = this.members.map((m) => m.id);
    this.configuration = { members: this.members, policy: options.policy ?? {} };
    this.bootstrap = compileConfiguration(this.configuration);
    this.quorum = this.bootstrap.quorum;
    this.safety = new SafetyChecker(this.configuration);
    const tickMs = options.tickMs ?? 10;
    this.tickMs = tickMs;
    const regionOf = this.regionOf;
    for (const m of this.members) regionOf.set(m.id, m.region);
    this.network.baseDelayTicks = (from, to) => {
      const a = regionOf.get(from) as Region | undefined;
      const b = regionOf.get(to) as Region | undefined;
      return a && b ? Math.max(1, Math.round(regionRttMs(a, b) / 2 / tickMs)) : 0;
    };
    for (const id of this.ids) {
      const r = new SimProcess(id, new SimClock(this.clocks, this.rng, this.now));
      this.replicas.set(id, r);
      if (this.waitsForSeed(r)) this.trace(`replica ${id} waits for its seed`);
      else this.start(r);
    }
  }

  /** The seed's spec (the checksum plays no part in the simulation: every seed delivered is the same state). */
  private get seedSpec(): SeedSpec | null {
    return this.options.seed ? { slot: this.options.seed.slot, sha256: '' } : null;
  }

  /** A bootstrap replica of a restored stream that does not hold its seed: it must not run (seed.ts, as the Durable Object host's gate). */
  waitsForSeed(r: SimProcess): boolean {
    const spec = this.seedSpec;
    if (this.options.testOnlyIgnoreSeedGate) return false;
    return spec !== null && this.members.some((m) => m.id === r.id) && needsSeed(spec, r.backing);
  }

  /** The restore delivers replica `id` its seed: stored in one transaction, then the replica starts (if it is not crashed). */
  seedReplica(id: ReplicaId, start = true): void {
    const r = this.replica(id);
    const seed = this.options.seed;
    if (!seed || !this.waitsForSeed(r)) return;
    if (r.runner) throw new Error(`replica ${id} runs without its seed`);
    new MemoryStorage(r.backing).persist(seedDelta(seed.slot, seed.data));
    this.trace(`restore: replica ${id} seeded through slot ${seed.slot}`);
    if (start && !r.runner) this.start(r);
  }

  private readonly regionOf = new Map<ReplicaId, string | undefined>();

  /** Start a new, empty replica (a membership change must still add it); it knows only the bootstrap configuration. */
  addReplica(member: Member): SimProcess {
    if (this.replicas.has(member.id)) throw new Error(`replica ${member.id} exists`);
    this.ids.push(member.id);
    this.regionOf.set(member.id, member.region);
    const r = new SimProcess(member.id, new SimClock(this.clocks, this.rng, this.now));
    this.replicas.set(member.id, r);
    this.start(r);
    return r;
  }

  /** The configuration in effect as far as anyone decided (the bootstrap one until a change is decided). */
  currentConfiguration(): Configuration {
    return this.safety.latestConfiguration() ?? this.configuration;
  }

  /** Ask replica `id` (the leader) to change the configuration; `done` runs once its outcome is known there. */
  reconfigure(id: ReplicaId, configuration: Configuration, done: (o: ProposalOutcome) => void = () => {}): OperatorResult {
    const runner = this.replica(id).runner;
    if (!runner) return { ok: false, code: 'not-leader', message: `replica ${id} is down` };
    const command: ConfigCommand = { kind: 'config', id: `cfg${++this.configChanges}`, configuration };
    const change = describeChange(runner.status().configuration, configuration);
    const res = runner.changeConfiguration(command, done);
    this.trace(`operator: reconfigure at ${id} (${change}): ${res.ok ? 'proposed' : `${res.code}: ${res.message}`}`);
    return res;
  }

  private configChanges = 0;
  /** Replicas rebuilt blank into a new incarnation so far. */
  rebuilds = 0;

  /**
   * Minority force-start (DCF work_mode minority): the replicas `survivors`
   * decide with `voteNum` of them, in a new epoch. Returns the epoch. What can
   * be lost, by design: a slot is kept only if every group of `voteNum`
   * survivors includes one that had decided it (the first leader of the new
   * epoch learns only from such a group), so the safety checker forgets
   * decisions above `guaranteedThrough`.
   */
  forceMinority(survivors: readonly ReplicaId[], voteNum: number): number {
    checkQuorumOverride({ voters: survivors, voteNum }); // refused as every replica would refuse it, before anything changes
    const epoch = Math.max(...this.ids.map((id) => this.replica(id).backing.epoch)) + 1;
    const keep = guaranteedThrough([...new Set(survivors)].map((id) => this.replica(id).backing.decidedThrough), voteNum);
    this.safety.forceMinority({ voters: survivors, voteNum }, keep, epoch);
    for (const id of survivors) {
      const r = this.replica(id);
      if (!r.runner) throw new Error(`survivor ${id} is down`);
      r.runner.setWorkMode({ voters: survivors, voteNum }, epoch);
      this.drain(r);
    }
    this.trace(`operator: minority mode on [${survivors.join(', ')}] with vote_num ${voteNum}, epoch ${epoch}`);
    return epoch;
  }

  /** Back to the configured quorums on every replica that is up (the epoch stays). */
  normalMode(): void {
    for (const r of this.replicas.values()) {
      if (!r.runner || !r.runner.status().quorumOverride) continue;
      r.runner.setWorkMode(null);
      this.drain(r);
    }
    this.trace('operator: normal mode');
  }

  /** Rebuild: clear a replica's storage and start it blank in `epoch` and `incarnation`. */
  rebuild(id: ReplicaId, epoch: number, incarnation = 1): void {
    const r = this.replica(id);
    r.runner = null;
    ReadyRunner.rebuildBlank(new MemoryStorage(r.backing), epoch, incarnation);
    this.safety.forgetReplica(id);
    this.trace(`operator: replica ${id} rebuilt blank in epoch ${epoch}, incarnation ${incarnation}`);
    this.rebuilds += 1;
    r.incarnation += 1;
    r.sentThisLife = 0;
    r.stall = null;
    this.cutOffFromClients.delete(id);
    this.start(r);
  }

  /**
   * Rebuild a member in place (DCF build, Patroni reinitialize), step one: a
   * configuration change makes it a learner in a new incarnation. Step two,
   * the blank restart, follows once the change is decided (`reconcileRebuilds`).
   */
  startRebuild(leader: ReplicaId, id: ReplicaId): OperatorResult {
    const config = this.replica(leader).core!.status().configuration;
    const old = config.members.find((m) => m.id === id);
    if (!old) return { ok: false, code: 'invalid-target', message: `replica ${id} is not a member` };
    const incarnation = (old.incarnation ?? 1) + 1;
    const members = config.members.map((m) => (m.id === id ? { ...m, role: 'passive' as const, incarnation } : m));
    return this.reconfigure(leader, { members, policy: config.policy });
  }

  /**
   * Rebuild blank every replica whose new incarnation the decided configuration names
   * but that still runs an older one - once every other voter of that
   * configuration knows it is decided (a voter that did not could still need the
   * old incarnation's vote to elect anyone, and would wait for it forever).
   */
  reconcileRebuilds(): void {
    const latest = this.safety.latestConfigurationAt();
    if (!latest) return;
    const epoch = Math.max(...this.ids.map((id) => this.replica(id).backing.epoch));
    for (const m of latest.configuration.members) {
      const r = this.replicas.get(m.id);
      if (!r || (m.incarnation ?? 1) <= r.backing.incarnation) continue;
      const othersKnow = latest.configuration.members.every(
        (v) => {
          const b = this.replicas.get(v.id)?.backing;
          return v.id === m.id || v.role === 'passive' || b?.fenced === true || (b?.decidedThrough ?? 0) >= latest.slot;
        },
      );
      if (othersKnow) this.rebuild(m.id, epoch, m.incarnation ?? 1);
    }
  }

  clock(): number {
    return ++this.instant;
  }

  replica(id: ReplicaId): SimProcess {
    const r = this.replicas.get(id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }

  /** Run mode on every replica (automatic elections on or off). */
  setAutoElection(on: boolean): void {
    this.autoElection = on;
    for (const r of this.replicas.values()) r.core?.setAutoElection(on);
  }

  /** The up replica that believes it leads with the highest ballot, if any. */
  leaderId(): ReplicaId | null {
    let best: { id: ReplicaId; ballot: Ballot } | null = null;
    for (const r of this.replicas.values()) {
      const st = r.core?.status();
      if (st?.role !== 'leader') continue;
      if (!best || ballotGreater(st.ballot, best.ballot)) best = { id: r.id, ballot: st.ballot };
    }
    return best?.id ?? null;
  }

  upIds(): ReplicaId[] {
    return this.ids.filter((id) => this.replica(id).up);
  }

  // ---------------------------------------------------------------- time

  /**
   * One tick of true time, `(now, now + 1]`: what the network delivers and
   * every replica's own ticks (each when its machine clock passes a whole
   * tick, through its host's clock rule: not in lockstep unless the clocks
   * are) run in the order of their true instants; then `between` acts
   * (clients, faults). With lockstep clocks every delivery due by the end of
   * the tick comes first, then each replica ticks once.
   */
  tick(between?: () => void): void {
    const from = this.now;
    this.now += 1;
    const to = this.now;
    this.eventTime = from;
    for (const r of this.replicas.values()) if (r.stall && r.stall.until <= to) this.unstall(r);
    if (this.clocks.rateChangeRate > 0) {
      for (const r of this.replicas.values()) {
        if (!chance(this.rng, this.clocks.rateChangeRate)) continue;
        r.machineClock.changeRate(this.rng, from);
        this.clockRateChanges += 1;
      }
    }
    const events: { readonly at: number; readonly order: number; readonly message?: Message; readonly r?: SimProcess; readonly local?: number }[] = [];
    let order = 0;
    for (const d of this.network.due(to)) events.push({ at: d.at, order: order++, message: d.message });
    for (const r of this.replicas.values()) {
      const a = Math.floor(r.machineClock.localAt(from));
      r.machineClock.tickInstants(from, to).forEach((at, i) => events.push({ at, order: 1_000_000 + order++, r, local: a + i + 1 }));
    }
    events.sort((x, y) => x.at - y.at || x.order - y.order);
    for (const ev of events) {
      this.eventTime = Math.max(from, ev.at);
      if (ev.message) this.deliver(ev.message);
      else this.tickReplica(ev.r!, ev.local!);
    }
    this.eventTime = to;
    for (const r of this.replicas.values()) {
      const broken = r.machineClock.check(to);
      if (broken !== null) throw new Error(`clock of replica ${r.id}: ${broken}`); // a simulator bug, not the core's
    }
    between?.();
  }

  private deliver(m: Message): void {
    const r = this.replica(m.to);
    if (!r.runner) return; // a down replica loses what reaches it
    if (r.stall) {
      r.stall.held.push(m); // a stalled host gets it when it runs again
      return;
    }
    this.safety.onDeliver(r, m);
    r.runner.step(m);
    this.drain(r);
    this.checkAfterEvent(r);
  }

  /** Replica `r`'s machine clock reads the whole tick `local`: its host drives the core by its clock rule. */
  private tickReplica(r: SimProcess, local: number): void {
    if (!r.runner || r.stall) return;
    r.clock!.drive(local, r.runner);
    this.drain(r);
    this.expectWake(r);
    this.checkAfterEvent(r);
  }

  /** The invariants after an input that produced no Ready (those that did were checked after each one). */
  private checkAfterEvent(r: SimProcess): void {
    if (r.runner && this.readiesAtEvent === this.readies) this.safety.onStep(r, this.now);
    this.readiesAtEvent = this.readies;
  }

  /** Readies processed so far (to tell whether an input produced one). */
  private readies = 0;
  private readiesAtEvent = 0;
  /** Clock rate changes so far. */
  clockRateChanges = 0;

  /** The local time (its machine clock's reading) of replica `id` now. */
  localTime(id: ReplicaId): number {
    return this.replica(id).machineClock.localAt(this.eventTime);
  }

  /** As a host re-arms its wake-up after every input: when the replica's earliest timer is due (none while quiet). */
  private expectWake(r: SimProcess): void {
    const ticks = r.runner?.ticksUntilNextTimer() ?? null;
    r.clock?.expectWake(ticks === null ? null : r.clock.timerDueAt(ticks));
  }

  // ---------------------------------------------------------------- stalls

  /**
   * The hosts of `ids` are not run for `ticks` ticks (an overloaded machine;
   * local workerd holding alarms back): no ticks, and what reaches them waits.
   */
  stallReplicas(ids: readonly ReplicaId[], ticks: number): void {
    for (const id of ids) {
      const r = this.replica(id);
      if (!r.runner || r.stall) continue;
      r.stall = { until: this.now + ticks, held: [] };
      this.expectWake(r); // the wake-up its host last asked for: running again after it is due is a late wake-up
    }
    this.trace(`stall: replicas ${ids.join(', ')} not run for ${ticks} ticks`);
  }

  /**
   * A stalled host runs again, by the host's own clock rule (HostClock, fed
   * its machine clock's reading): a wake-up that comes long after it was due
   * is forgiven (the time is dropped and the core resumes: failure detectors
   * start over), at most once per two election timeouts; otherwise the missed
   * ticks are replayed. Then what arrived meanwhile is stepped.
   */
  private unstall(r: SimProcess): void {
    const stall = r.stall!;
    r.stall = null;
    const runner = r.runner;
    if (!runner) return;
    if (r.clock!.drive(r.machineClock.localAt(this.eventTime), runner)) this.stallsForgiven += 1;
    this.drain(r);
    for (const m of stall.held) {
      if (!r.runner) return; // crashed between persist and send while catching up
      this.safety.onDeliver(r, m);
      r.runner.step(m);
      this.drain(r);
    }
    this.expectWake(r);
    this.checkAfterEvent(r);
  }

  /** End every stall now (before a liveness check). */
  unstallAll(): void {
    for (const r of this.replicas.values()) if (r.stall) this.unstall(r);
  }

  /** Stalls forgiven so far (the host's resume path). */
  stallsForgiven = 0;
  /** Restarts that came back quiet (Replica.restoreQuiet), and those that came back leading. */
  quietRestarts = 0;
  quietLeaderRestarts = 0;

  runTicks(n: number, between?: () => void): void {
    for (let i = 0; i < n; i++) this.tick(between);
  }

  /** Ticks until `done()` holds; returns the ticks taken, or throws after `maxTicks`. */
  runUntil(done: () => boolean, maxTicks: number, what = 'condition', between?: () => void): number {
    const start = this.now;
    while (!done()) {
      if (this.now - start >= maxTicks) throw new Error(`${what} not reached within ${maxTicks} ticks (at tick ${this.now})`);
      this.tick(between);
    }
    return this.now - start;
  }

  // ---------------------------------------------------------------- faults

  crash(id: ReplicaId, why = 'crash'): void {
    const r = this.replica(id);
    if (!r.core) return;
    this.trace(`${why}: replica ${id} crashes (leader=${this.leaderId()})`);
    r.runner = null;
    r.watches = null; // its watchers' connections end with the process (clients notice and reconnect)
    r.stall = null; // what it held is lost with it
  }

  restart(id: ReplicaId): void {
    const r = this.replica(id);
    if (r.core) return;
    if (this.waitsForSeed(r)) return; // an unseeded replica does not run
    r.incarnation += 1;
    r.sentThisLife = 0;
    this.trace(`replica ${id} restarts from storage (promised ${formatBallot(r.backing.promised)}, decided ${r.backing.decidedThrough})`);
    this.start(r);
  }

  private start(r: SimProcess): void {
    const options = {
      id: r.id,
      configuration: this.configuration,
      ...(this.options.priority ? { priority: this.options.priority } : {}),
      autoElection: this.autoElection,
      ...(this.options.snapshotChunkChars ? { snapshotChunkChars: this.options.snapshotChunkChars } : {}),
      ...(this.options.quietAfterTicks ? { quietAfterTicks: this.options.quietAfterTicks } : {}),
      rng: new SeededRng(this.rng.nextU32()),
      observe: (e: ReplicaEvent) => this.trace(describeEvent(r.id, e)),
      ...this.timing,
      ...(this.options.thrifty ? { thrifty: this.options.thrifty } : {}),
    };
    // Checked whether thrifty replication is on or not: every new accept batch goes to a phase-2 quorum (with the leader).
    const nearest = new NearestQuorumCheck(r.id);
    const observer: ReadyObserver<KvResult> = {
      afterPersist: (delta, messages) => {
        this.safety.onPersist(r, delta);
        return messages > 0 && chance(this.rng, this.crashBetweenPersistAndSendRate);
      },
      beforeSend: (m) => {
        this.safety.onSend(r, m);
        nearest.beforeSend(m);
      },
      afterApply: (e, result) => {
        this.safety.onApply(r, e, result);
        r.watches?.advance(e.slot);
        this.applyListener?.afterApply(r, e, result);
      },
      afterReady: (rd) => {
        this.readies += 1;
        this.safety.onReady(r, rd);
        this.safety.onStep(r, this.now);
        nearest.afterReady(() => r.runner?.status() ?? null);
      },
      afterInstall: () => {
        this.snapshotsInstalled += 1;
      },
    };
    // The host counts whole ticks of its machine clock from the one it starts in.
    const startedAt = Math.floor(r.machineClock.localAt(this.eventTime));
    r.clock = new HostClock({ tickMs: 1, heartbeatIntervalTicks: this.timing.heartbeatIntervalTicks, electionTimeoutTicks: this.timing.electionTimeoutTicks }, startedAt);
    r.kv = new KvStateMachine(this.options.kv);
    // As the Durable Object host: the watch history is filled at apply time, and restored with the state.
    const hub = new WatchHub(0);
    r.watches = hub;
    r.kv.listen({
      changed: (revision, changes) => {
        hub.changed(revision, changes);
        this.applyListener?.changed(r, revision, changes);
      },
      restored: (appliedThrough) => hub.restored(appliedThrough),
    });
    r.runner = new ReadyRunner(options, new MemoryStorage(r.backing), r.kv, observer, this.options.compaction ?? null);
    // The leader's lease expiry, on this process's own clock (its core's ticks). Without leases it does nothing and draws nothing.
    r.leases = new LeaseKeeper(r.kv, this.options.tickMs ?? 10, this.timing.electionTimeoutTicks, `r${r.id}.${r.incarnation}`);
    if (this.options.follow) {
      const runner = r.runner;
      r.follower = new TrafficFollower(this.options.follow, () => runner.status().configuration, `r${r.id}.${r.incarnation}`);
      r.runner.setLeaderDuties(allDuties<KvResult>([r.leases, r.follower]));
    } else {
      r.runner.setLeaderDuties(r.leases);
    }
    if (this.options.pendingMax !== undefined) r.runner.pendingMax = this.options.pendingMax;
    nearest.begin(r.runner.status().lastSlot);
    r.flow = this.options.adaptiveFlow ? new AdaptiveFlowController({ batchMax: this.timing.batchMax }) : null;
    if (r.flow) r.runner.setFlowLimits(r.flow.limits());
    if (r.runner.status().quiet) {
      this.quietRestarts += 1;
      if (r.runner.status().role === 'leader') this.quietLeaderRestarts += 1;
    }
    this.safety.onStart(r, this.now);
    this.drain(r);
    this.expectWake(r);
  }

  /** Let the replica do what its Readies ask until it has nothing more. */
  drain(r: SimProcess): void {
    const runner = r.runner;
    if (!runner) return;
    runner.drain((m) => {
      r.sentThisLife += 1;
      this.network.send(m, this.eventTime);
    });
    if (runner.crashed) {
      this.crashesBetweenPersistAndSend += 1;
      this.crash(r.id, 'crash between persist and send');
      return;
    }
    const limits = r.flow?.observe(r.machineClock.localAt(this.eventTime) * this.tickMs, runner.flowState());
    if (limits) runner.setFlowLimits(limits);
  }

  /** Crashes that fell between persisting a Ready and sending its messages. */
  crashesBetweenPersistAndSend = 0;

  /** An operator's snapshot and truncation at replica `id`, whatever the thresholds (DCF dcf_truncate). */
  compactNow(id: ReplicaId): void {
    const r = this.replica(id);
    const runner = r.runner;
    if (!runner || r.stall) return;
    runner.compactNow((m) => {
      r.sentThisLife += 1;
      this.network.send(m, this.eventTime);
    });
    if (runner.crashed) {
      this.crashesBetweenPersistAndSend += 1;
      this.crash(id, 'crash between persist and send');
    }
    this.drain(r);
  }

  // ---------------------------------------------------------------- client entry points

  /** Propose at replica `id`; `done` is called once its outcome is known there. */
  propose(id: ReplicaId, command: ClientCommand, done: (o: ProposalOutcome) => void): ProposeResult | Overloaded | { ok: false; reason: 'down' } {
    const r = this.replica(id);
    const runner = r.runner;
    // A stalled host answers nobody, nor does one cut off from clients; the client tries elsewhere.
    if (!runner || r.stall || this.cutOffFromClients.has(id)) return { ok: false, reason: 'down' };
    return runner.propose(command, done);
  }

  /** Hears of every entry applied at any replica (the coordination workload's checks); at most one. */
  applyListener: ApplyListener | null = null;

  /** A linearizable read through replica `id` of whatever `query` takes from the state machine (a lock's queue). */
  readQuery<T>(id: ReplicaId, readId: string, query: (kv: KvStateMachine) => T, done: (o: { readonly kind: 'value'; readonly value: T } | { readonly kind: 'dropped' }) => void): ReadIndexResult | Overloaded | { ok: false; reason: 'down' } {
    const r = this.replica(id);
    const runner = r.runner;
    if (!runner || r.stall || this.cutOffFromClients.has(id)) return { ok: false, reason: 'down' };
    this.safety.onReadRequest(r, readId);
    return runner.readIndex(readId, (o) => done(o === 'ready' ? { kind: 'value', value: runner.query(query) as T } : { kind: 'dropped' }));
  }

  /** A linearizable read of `key` through replica `id`. */
  read(id: ReplicaId, readId: string, key: string, done: (o: ReadOutcome) => void): ReadIndexResult | Overloaded | { ok: false; reason: 'down' } {
    const r = this.replica(id);
    const runner = r.runner;
    if (!runner || r.stall || this.cutOffFromClients.has(id)) return { ok: false, reason: 'down' };
    this.safety.onReadRequest(r, readId);
    return runner.readIndex(readId, (r) => done(r === 'ready' ? { kind: 'value', item: runner.query((kv) => kv.get(key)) ?? undefined } : { kind: 'dropped' }));
  }

  /**
   * A caller stopped waiting for a proposal or read at replica `id` (as the
   * Worker host does at its deadline). Only with back-pressure on, where a
   * forgotten waiter would hold a place for ever; without it nothing depends
   * on it, and forgetting would change the runs of existing seeds.
   */
  forget(id: ReplicaId, kind: 'proposal' | 'read', requestId: string): void {
    if (this.options.pendingMax === undefined) return;
    const runner = this.replica(id).runner;
    if (kind === 'proposal') runner?.forgetProposal(requestId);
    else runner?.forgetRead(requestId);
  }

  private writes = 0;

  /**
   * A client put through whichever replica leads, retried with one idempotency
   * key across leader changes: the result once applied, or null if not within
   * `maxTicks` (a blocked policy, no quorum).
   */
  write(key: string, value: string, maxTicks = 300): KvResult | null {
    let result: KvResult | null = null;
    const ik = `w${++this.writes}`;
    const deadline = this.now + maxTicks;
    for (let attempt = 0; result === null && this.now < deadline; attempt++) {
      const leader = this.leaderId();
      if (leader !== null) {
        this.propose(leader, { kind: 'put', id: `${ik}.${attempt}`, key, value, idempotencyKey: ik }, (o) => {
          if (o.kind === 'applied') result = o.result;
        });
        this.flush();
      }
      for (let i = 0; i < 3 * this.timing.electionTimeoutTicks && result === null && this.now < deadline; i++) this.tick();
    }
    return result;
  }

  /** Let every replica with queued work produce its Ready (proposals made this tick go out as one batch). */
  flush(): void {
    for (const r of this.replicas.values()) this.drain(r);
  }

  // ---------------------------------------------------------------- views

  /** The replicas of the current configuration (the bootstrap ones until a change is decided). */
  memberIds(): ReplicaId[] {
    return this.currentConfiguration().members.map((m) => m.id);
  }

  /** True when every member is up, one leads, nothing is pending, and all members have applied the same state. */
  converged(): boolean {
    const leader = this.leaderId();
    if (leader === null) return false;
    const lst = this.replica(leader).core!.status();
    if (lst.lastSlot !== lst.decidedThrough) return false;
    const snap = this.replica(leader).sm.snapshot();
    for (const id of this.memberIds()) {
      const r = this.replica(id);
      const st = r.core?.status();
      if (!st || st.decidedThrough !== lst.decidedThrough || st.appliedThrough !== lst.decidedThrough) return false;
      if (r.runner?.keepsData && r.sm.snapshot() !== snap) return false;
    }
    return true;
  }

  /** One line per replica: role, ballot, decided/applied/last slot. */
  describe(): string {
    return this.ids
      .map((id) => {
        const st = this.replica(id).core?.status();
        if (!st) return `r${id}: down`;
        const members = (c: Configuration): string => c.members.map((m) => `${m.id}${m.role === 'electable' ? '' : m.role[0]}`).join(',');
        const config = `config@${st.configurationSlot}=[${members(st.configuration)}]${st.pendingConfiguration ? ` pending [${members(st.pendingConfiguration)}]` : ''}`;
        return `r${id}: ${st.role} b${st.ballot.round}.${st.ballot.replicaId} decided=${st.decidedThrough} applied=${st.appliedThrough} last=${st.lastSlot} ${config}`;
      })
      .join('; ');
  }

  trace(line: string): void {
    this.log.push(`[t${this.now}] ${line}`);
    if (this.log.length > SimCluster.traceLines) this.log.shift();
  }
}

/** One trace line for a replica's transition or refusal (Replica's `observe`): who, what, and why. */
export function describeEvent(id: ReplicaId, e: ReplicaEvent): string {
  if (e.kind === 'refusal') return `r${id}: refused ${e.what}: ${e.why}`;
  const of = e.to === 'follower' ? (e.leaderId === null ? ' of nobody' : ` of ${e.leaderId}`) : '';
  return `r${id}: ${e.from} -> ${e.to}${of}: ${e.why}`;
}
