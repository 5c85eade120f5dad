import {
  type Ballot,
  type ClientCommand,
  type DurableState,
  type Entry,
  type KvItem,
  type KvOptions,
  type KvResult,
  type Message,
  type ProposeResult,
  type ReadIndexResult,
  type ReadState,
  type Ready,
  type ReplicaId,
  type Rng,
  type TestOnlyBugs,
  DEFAULT_TIMING,
  KvStateMachine,
  Replica,
  SeededRng,
  ballotGreater,
  chance,
  majorityQuorum,
} from '../../src/core/index.ts';
import { type NetworkFaults, SimNetwork } from './network.ts';
import { SafetyChecker } from './safety.ts';

export interface Timing {
  readonly heartbeatIntervalTicks: number;
  readonly electionTimeoutTicks: number;
  readonly inflightMax: number;
  readonly batchMax: number;
  readonly retransmitTicks: number;
  readonly catchupBatchMax: number;
}

export interface ClusterOptions {
  readonly replicas: number;
  /** The one PRNG of the run; the cluster draws per-replica seeds and network randomness from it. */
  readonly rng: Rng;
  readonly timing?: Partial<Timing>;
  readonly network?: Partial<NetworkFaults>;
  /** Probability that a replica crashes after persisting a Ready and before sending its messages. */
  readonly crashBetweenPersistAndSendRate?: number;
  readonly kv?: KvOptions;
  readonly bugs?: TestOnlyBugs;
}

/** What a replica keeps across a crash: exactly what its Readies asked to persist. */
export class SimStorage {
  promised: Ballot = { round: 0, replicaId: 0 };
  decidedIndex = 0;
  readonly entries = new Map<number, Entry>();
  transactions = 0;

  write(delta: NonNullable<Ready['persist']>): void {
    this.transactions += 1;
    if (delta.promised) this.promised = delta.promised;
    for (const e of delta.entries) this.entries.set(e.slot, e);
    if (delta.decidedIndex !== undefined) this.decidedIndex = delta.decidedIndex;
  }

  durable(): DurableState {
    return { promised: this.promised, decidedIndex: this.decidedIndex, entries: [...this.entries.values()] };
  }
}

export type ProposalOutcome = { readonly kind: 'applied'; readonly result: KvResult } | { readonly kind: 'dropped' };
export type ReadOutcome = { readonly kind: 'value'; readonly item: KvItem | undefined } | { readonly kind: 'dropped' };

/** One simulated replica process: the pure core plus the host duties the DO host will have. */
export class SimReplica {
  readonly id: ReplicaId;
  readonly storage = new SimStorage();
  core: Replica | null = null;
  sm = new KvStateMachine();
  /** Bumped on every restart, so a ballot reused by a restarted process can be told apart. */
  incarnation = 0;
  waiters = new Map<string, (o: ProposalOutcome) => void>();
  reads = new Map<string, { key: string; done: (o: ReadOutcome) => void }>();
  confirmedReads: ReadState[] = [];

  constructor(id: ReplicaId) {
    this.id = id;
  }

  get up(): boolean {
    return this.core !== null;
  }
}

/**
 * A deterministic cluster: replicas, a simulated network and storage, driven
 * tick by tick. Safety is checked after every Ready a replica processes.
 * Scenario tests drive it by hand; `runSimulation` drives it from a seed.
 */
export class SimCluster {
  readonly ids: readonly ReplicaId[];
  readonly replicas = new Map<ReplicaId, SimReplica>();
  readonly network: SimNetwork;
  readonly safety = new SafetyChecker();
  readonly timing: Timing;
  now = 0;
  crashBetweenPersistAndSendRate: number;
  /** A strictly increasing counter for client call/return times (linearizability needs distinct instants). */
  private instant = 0;
  private readonly rng: Rng;
  private readonly options: ClusterOptions;
  readonly log: string[] = [];

  constructor(options: ClusterOptions) {
    this.options = options;
    this.rng = options.rng;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.crashBetweenPersistAndSendRate = options.crashBetweenPersistAndSendRate ?? 0;
    this.network = new SimNetwork(this.rng, {
      lossRate: 0,
      duplicateRate: 0,
      minDelayTicks: 1,
      maxDelayTicks: 1,
      ...options.network,
    });
    this.ids = Array.from({ length: options.replicas }, (_, i) => i + 1);
    for (const id of this.ids) {
      const r = new SimReplica(id);
      this.replicas.set(id, r);
      this.start(r);
    }
  }

  clock(): number {
    return ++this.instant;
  }

  replica(id: ReplicaId): SimReplica {
    const r = this.replicas.get(id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
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

  /** One tick: deliver what is due, tick every live replica, then let `between` act (clients). */
  tick(between?: () => void): void {
    this.now += 1;
    for (const m of this.network.due(this.now)) {
      const r = this.replica(m.to);
      if (!r.core) continue; // a down replica loses what reaches it
      r.core.step(m);
      this.drain(r);
    }
    for (const r of this.replicas.values()) {
      if (!r.core) continue;
      r.core.tick();
      this.drain(r);
    }
    between?.();
  }

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
    r.core = null;
    r.sm = new KvStateMachine(this.options.kv);
    r.waiters = new Map();
    r.reads = new Map();
    r.confirmedReads = [];
  }

  restart(id: ReplicaId): void {
    const r = this.replica(id);
    if (r.core) return;
    r.incarnation += 1;
    this.trace(`replica ${id} restarts from storage (promised ${r.storage.promised.round}.${r.storage.promised.replicaId}, decided ${r.storage.decidedIndex})`);
    this.start(r);
  }

  private start(r: SimReplica): void {
    r.sm = new KvStateMachine(this.options.kv);
    r.core = new Replica(
      {
        id: r.id,
        quorum: majorityQuorum(this.ids),
        rng: new SeededRng(this.rng.nextU32()),
        ...this.timing,
        ...(this.options.bugs ? { testOnlyBugs: this.options.bugs } : {}),
      },
      r.storage.durable(),
      0,
    );
    this.safety.onStart(r, this.now);
    this.drain(r);
  }

  // ---------------------------------------------------------------- the host loop

  /** Do what the replica's Readies ask, in the required order, until it has nothing more. */
  drain(r: SimReplica): void {
    while (r.core?.hasReady()) {
      const core: Replica = r.core;
      const rd = core.ready();
      if (rd.persist) {
        r.storage.write(rd.persist);
        this.safety.onPersist(r);
      }
      if (rd.messages.length > 0 && chance(this.rng, this.crashBetweenPersistAndSendRate)) {
        this.crash(r.id, 'crash between persist and send');
        return;
      }
      for (const m of rd.messages) this.sendMessage(r, m);
      for (const e of rd.decided) {
        const result = r.sm.apply(e.slot, e.command);
        this.safety.onApply(r, e, result);
        if (e.command.kind !== 'noop') {
          const waiter = r.waiters.get(e.command.id);
          if (waiter) {
            r.waiters.delete(e.command.id);
            waiter({ kind: 'applied', result });
          }
        }
      }
      r.confirmedReads.push(...rd.readStates);
      for (const id of rd.dropped.proposals) {
        const waiter = r.waiters.get(id);
        r.waiters.delete(id);
        waiter?.({ kind: 'dropped' });
      }
      for (const id of rd.dropped.reads) {
        const read = r.reads.get(id);
        r.reads.delete(id);
        read?.done({ kind: 'dropped' });
      }
      core.advance(rd);
      this.serveReads(r);
      this.safety.onStep(r, this.now);
    }
  }

  private sendMessage(r: SimReplica, m: Message): void {
    this.safety.onSend(r, m);
    this.network.send(m, this.now);
  }

  private serveReads(r: SimReplica): void {
    if (r.confirmedReads.length === 0) return;
    const keep: ReadState[] = [];
    for (const rs of r.confirmedReads) {
      if (r.sm.appliedIndex < rs.readIndex) {
        keep.push(rs);
        continue;
      }
      const read = r.reads.get(rs.readId);
      if (!read) continue;
      r.reads.delete(rs.readId);
      read.done({ kind: 'value', item: r.sm.get(read.key) });
    }
    r.confirmedReads = keep;
  }

  // ---------------------------------------------------------------- client entry points

  /** Propose at replica `id`; `done` is called when it is applied there or dropped. */
  propose(id: ReplicaId, command: ClientCommand, done: (o: ProposalOutcome) => void): ProposeResult | { ok: false; reason: 'down' } {
    const r = this.replica(id);
    if (!r.core) return { ok: false, reason: 'down' };
    const res = r.core.propose(command);
    if (res.ok) r.waiters.set(command.id, done);
    return res;
  }

  /** A linearizable read of `key` through replica `id`. */
  read(id: ReplicaId, readId: string, key: string, done: (o: ReadOutcome) => void): ReadIndexResult | { ok: false; reason: 'down' } {
    const r = this.replica(id);
    if (!r.core) return { ok: false, reason: 'down' };
    const res = r.core.readIndex(readId);
    if (res.ok) r.reads.set(readId, { key, done });
    return res;
  }

  /** Let every replica with queued work produce its Ready (proposals made this tick go out as one batch). */
  flush(): void {
    for (const r of this.replicas.values()) this.drain(r);
  }

  // ---------------------------------------------------------------- views

  /** True when every replica is up, one leads, nothing is pending, and all have applied the same state. */
  converged(): boolean {
    const leader = this.leaderId();
    if (leader === null) return false;
    const lst = this.replica(leader).core!.status();
    if (lst.lastSlot !== lst.decidedIndex) return false;
    const snap = this.replica(leader).sm.snapshot();
    for (const r of this.replicas.values()) {
      const st = r.core?.status();
      if (!st || st.decidedIndex !== lst.decidedIndex || st.appliedIndex !== lst.decidedIndex) return false;
      if (r.sm.snapshot() !== snap) return false;
    }
    return true;
  }

  /** One line per replica: role, ballot, decided/applied/last slot. */
  describe(): string {
    return this.ids
      .map((id) => {
        const st = this.replica(id).core?.status();
        if (!st) return `r${id}: down`;
        return `r${id}: ${st.role} b${st.ballot.round}.${st.ballot.replicaId} decided=${st.decidedIndex} applied=${st.appliedIndex} last=${st.lastSlot}`;
      })
      .join('; ');
  }

  trace(line: string): void {
    this.log.push(`[t${this.now}] ${line}`);
    if (this.log.length > 200) this.log.shift();
  }
}
