import { DurableObject } from 'cloudflare:workers';
import type { ClientCommand, Message, OperatorResult, ReplicaId } from '../core/index.ts';
import type { DcfConfiguration } from './dcf.ts';
import type { KvItem, LockView, ShardRead } from '../kv/index.ts';
import type { WatchFilter } from './watch-hub.ts';
import type { WatchStreamOptions } from './watch-stream.ts';
import { ConfigError, DefinitionError, type StreamConfig, clusterConfig, configuredStream, parseStreamDefinition } from './config.ts';
import {
  type LogRead,
  type LogRecord,
  type OperatorAction,
  type ReadOutcome,
  type ReconfigureOutcome,
  ClockedHost,
  type ReplicaMetrics,
  type ReplicaView,
  type LeaseView,
  type WatchOutcome,
  type WriteOutcome,
} from './clocked-host.ts';
import type { Transport, Unreliability } from './chaos-transport.ts';
import { Deadlines } from './deadlines.ts';
import { ReadyRunner } from './ready-runner.ts';
import { logEvent } from './log.ts';
import { SEEDED_META, type SeedSpec, needsSeed, seedDelta, sha256Hex } from './seed.ts';
import { SqliteStorage } from './sqlite-storage.ts';
import { timingWindows } from './timing-windows.ts';
import { type ReplicaIdentity, parseStoredIdentity, replicaObjectName } from './identity.ts';
import { type WireBatch, unwrapBatch, wireBatch } from './wire.ts';

export { type ReplicaIdentity, replicaObjectName };

/** Errors cross RPC as values, never as exceptions. */
export type RpcError = {
  readonly kind: 'error';
  /**
   * `down`: the replica was crashed by fault injection and stays down for a while; like an unreachable one.
   * `stream_deleted`: the stream (this generation of it) was deleted; this replica destroyed its storage and refuses every call.
   * `refused`: the request does not apply to this replica (deleting a configured stream, a seed that does not match).
   * `restoring`: a replica of a restored stream that does not hold its seed yet: it does nothing until it does (seed.ts).
   */
  readonly code: 'misrouted' | 'invalid_configuration' | 'unknown_replica' | 'down' | 'stream_deleted' | 'refused' | 'restoring';
  readonly message: string;
};

export type Consistency = 'linearizable' | 'stale';

/**
 * The stub of a replica, created in its region on first use (location hints
 * only count then). `region` names it for a replica added after bootstrap.
 */
export function replicaStub(env: Cloudflare.Env, stream: StreamConfig, replicaId: ReplicaId, generation?: string, region?: string): DurableObjectStub<ReplicaObject> {
  const hint = region ?? stream.replicas.find((r) => r.id === replicaId)?.region;
  const id = env.REPLICA.idFromName(replicaObjectName(stream.name, replicaId, generation));
  return env.REPLICA.get(id, hint ? { locationHint: hint as DurableObjectLocationHint } : undefined);
}

/** How a replica of `stream` is addressed: its definition rides along for a stream created at run time. */
export function replicaIdentity(stream: StreamConfig, replicaId: ReplicaId, generation?: string): ReplicaIdentity {
  return generation === undefined ? { stream: stream.name, replicaId } : { stream: stream.name, replicaId, generation, definition: stream };
}

const IDENTITY_META = 'identity';
/** The definition of a stream created at run time, as the first call brought it. */
const DEFINITION_META = 'definition';
/** Set when the stream was deleted: the only row left, so a late call cannot bring the replica back. */
const DELETED_META = 'deleted';
const DOWN_UNTIL_META = 'chaos:down-until';

/**
 * One replica of one stream as a Durable Object with SQLite storage. Every
 * entry point (RPC or alarm) goes through `enter`, which admits the call,
 * starts the host once per instance (`ensureInitialized`: identity,
 * configuration, recovery from storage) and guards it. The alarm is the
 * durable wake-up for the replica's timers.
 */
export class ReplicaObject extends DurableObject<Cloudflare.Env> {
  private readonly storage: SqliteStorage;
  private host: ClockedHost | null = null;
  private identity: ReplicaIdentity | null = null;
  /** This replica's stream was deleted: its storage is destroyed and every call is refused. */
  private deleted = false;
  private alarmAt: number | null = null;
  /** Fault injection: until then this replica acts as if its machine were off. */
  private downUntil = 0;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.storage = new SqliteStorage(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      const stored = this.storage.readMeta(IDENTITY_META);
      if (stored) this.identity = parseStoredIdentity(stored);
      this.deleted = this.storage.readMeta(DELETED_META) !== undefined;
      this.downUntil = Number(this.storage.readMeta(DOWN_UNTIL_META) ?? 0);
    });
  }

  // ---------------------------------------------------------------- RPC: replicas

  /** Paxos messages from a peer; the answer carries our replies to it. */
  async deliver(to: ReplicaIdentity, from: ReplicaId, messages: unknown): Promise<{ kind: 'ok'; messages: WireBatch } | RpcError> {
    return this.enter(to, (host) => ({ kind: 'ok' as const, messages: wireBatch(host.deliver(from, unwrapBatch(messages))) }), { fromPeer: true });
  }

  // ---------------------------------------------------------------- RPC: the Worker

  async write(to: ReplicaIdentity, command: ClientCommand, timeoutMs: number): Promise<WriteOutcome | RpcError> {
    return this.enter(to, (host) => host.write(command, timeoutMs));
  }

  async get(to: ReplicaIdentity, key: string, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<KvItem | null> | RpcError> {
    return this.enter(to, (host) => {
      const read = (): KvItem | null => host.getLocal(key) ?? null;
      if (consistency === 'linearizable') return host.readLinearizable(read, timeoutMs);
      return host.keepsData ? { kind: 'ok' as const, value: read() } : { kind: 'unavailable' as const }; // a logger has no data to read
    });
  }

  /** `after`: only keys after it (a list continued from its last key). */
  async list(to: ReplicaIdentity, prefix: string, limit: number, consistency: Consistency, timeoutMs: number, after?: string): Promise<ReadOutcome<KvItem[]> | RpcError> {
    return this.enter(to, (host) => {
      const read = (): KvItem[] => host.listLocal(prefix, limit, after) ?? [];
      if (consistency === 'linearizable') return host.readLinearizable(read, timeoutMs);
      return host.keepsData ? { kind: 'ok' as const, value: read() } : { kind: 'unavailable' as const };
    });
  }

  /**
   * A keyspace read of `key` routed under shard map `mapVersion`: the item,
   * or `wrong_shard` (this shard does not own it under that version), or the
   * intent of an unresolved cross-shard transaction that writes it.
   */
  async shardGet(to: ReplicaIdentity, key: string, mapVersion: number, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<ShardRead<KvItem | null>> | RpcError> {
    return this.enter(to, (host) => {
      const read = (): ShardRead<KvItem | null> => host.shardGetLocal(key, mapVersion) ?? { kind: 'wrong_shard', key, version: 0 };
      if (consistency === 'linearizable') return host.readLinearizable(read, timeoutMs);
      return host.keepsData ? { kind: 'ok' as const, value: read() } : { kind: 'unavailable' as const };
    });
  }

  /** A keyspace list page at this shard (see KvStateMachine.shardList), read as `shardGet` reads. */
  async shardList(to: ReplicaIdentity, prefix: string, limit: number, after: string | undefined, mapVersion: number, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<ShardRead<KvItem[]>> | RpcError> {
    return this.enter(to, (host) => {
      const read = (): ShardRead<KvItem[]> => host.shardListLocal(prefix, limit, after, mapVersion) ?? { kind: 'wrong_shard', key: '', version: 0 };
      if (consistency === 'linearizable') return host.readLinearizable(read, timeoutMs);
      return host.keepsData ? { kind: 'ok' as const, value: read() } : { kind: 'unavailable' as const };
    });
  }

  /** A lease, read through the leader (read-index), with the leader's estimate of its remaining time; null when it does not exist. */
  async lease(to: ReplicaIdentity, id: string, timeoutMs: number): Promise<ReadOutcome<LeaseView | null> | RpcError> {
    return this.enter(to, (host) => host.readLinearizable(() => host.leaseLocal(id), timeoutMs));
  }

  /** The queue of a lock or election under `prefix` (its oldest key, `key`, and `key`'s predecessor), read through the leader. */
  async lockView(to: ReplicaIdentity, prefix: string, key: string | null, timeoutMs: number): Promise<ReadOutcome<LockView | null> | RpcError> {
    return this.enter(to, (host) => host.readLinearizable(() => host.lockViewLocal(prefix, key), timeoutMs));
  }

  /**
   * A watch from this replica: an SSE byte stream of the changes it applies
   * (watch-hub.ts, watch-stream.ts), pushed as they are applied. The stream
   * ends after `options.maxDurationMs`, or when this replica stops.
   */
  async watch(to: ReplicaIdentity, filter: WatchFilter, fromRevision: number | undefined, options: WatchStreamOptions & { readonly force: boolean }): Promise<WatchOutcome | RpcError> {
    return this.enter(to, (host) => host.watch(filter, fromRevision, options));
  }

  async readLog(to: ReplicaIdentity, from: number, limit: number, timeoutMs: number): Promise<ReadOutcome<LogRead> | RpcError> {
    return this.enter(to, (host) => host.readLinearizable(() => host.logLocal(from, limit), timeoutMs));
  }

  async status(to: ReplicaIdentity): Promise<{ kind: 'ok'; view: ReplicaView } | RpcError> {
    return this.enter(to, (host) => ({ kind: 'ok' as const, view: host.view() }));
  }

  /** An operator control (switchover, step-down, promote, run mode), answered with a result value. */
  async operate(to: ReplicaIdentity, action: OperatorAction): Promise<OperatorResult | RpcError> {
    return this.enter(to, (host) => host.operate(action));
  }

  /** Propose a configuration change (membership) at this replica, the leader, and wait for its outcome. */
  async reconfigure(to: ReplicaIdentity, configuration: DcfConfiguration, timeoutMs: number): Promise<ReconfigureOutcome | RpcError> {
    return this.enter(to, (host) => host.reconfigure(configuration, timeoutMs));
  }

  /**
   * Rebuild (DCF build, Patroni reinitialize): forget everything this replica
   * stored and start it blank in a new `incarnation` (and, for one fenced by a
   * minority force-start, the current `epoch`); the leader then sends it a
   * snapshot and the log. The caller first has the configuration name that new
   * incarnation as a learner: messages meant for the old one are then ignored,
   * and the blank replica counts in no quorum until it has caught up.
   */
  async rebuild(to: ReplicaIdentity, epoch: number, incarnation: number): Promise<OperatorResult | RpcError> {
    return this.enter(to, (host): OperatorResult | RpcError => {
      const st = host.status();
      if (incarnation <= st.incarnation) {
        return { ok: false, code: 'invalid-target', message: `replica ${to.replicaId} runs incarnation ${st.incarnation}; a rebuild starts a later one (named by the configuration first)` };
      }
      if (epoch < st.epoch || (st.fenced && epoch === st.epoch)) {
        return { ok: false, code: 'invalid-target', message: `epoch ${epoch} is not the stream's current one for replica ${to.replicaId} (it is in ${st.epoch}${st.fenced ? ', fenced' : ''})` };
      }
      host.retire(); // whatever the old replica still has in flight must not write into the new one
      ReadyRunner.rebuildBlank(this.storage, epoch, incarnation);
      this.host = null;
      const fresh = this.ensureInitialized(to);
      if ('kind' in fresh) return fresh;
      return { ok: true, target: to.replicaId };
    });
  }

  /**
   * The state machine as a snapshot at a decided slot, for a backup: a
   * linearizable read at the leader (read-index), so the state is at least as
   * new as every write acknowledged before the call; `slot` says which.
   */
  async snapshotState(to: ReplicaIdentity, timeoutMs: number): Promise<ReadOutcome<{ slot: number; data: string } | null> | RpcError> {
    return this.enter(to, (host) => host.readLinearizable(() => host.stateSnapshot(), timeoutMs));
  }

  /**
   * One piece of this replica's seed (a restore; seed.ts): the pieces of one
   * snapshot arrive in order, and with the last one the replica checks the
   * whole against the SHA-256 its stream's definition names and stores it as
   * its decided, compacted prefix, in one transaction; then it starts. A
   * replica that already holds its seed answers `seeded` at once. Pieces are
   * kept in memory only: if this object restarts in between, the restore
   * starts its pieces over.
   */
  async seed(to: ReplicaIdentity, piece: { readonly index: number; readonly count: number; readonly data: string }): Promise<{ kind: 'ok'; seeded: boolean } | RpcError> {
    const refused = this.admit(to);
    if (refused) return refused;
    const stream = this.streamOf(to);
    if ('kind' in stream) return stream;
    const spec = stream.restore;
    if (!spec || !stream.replicas.some((r) => r.id === to.replicaId)) {
      return { kind: 'error', code: 'refused', message: `replica ${to.replicaId} of stream '${to.stream}' starts from no snapshot` };
    }
    if (!this.waitsForSeed(spec)) return { kind: 'ok', seeded: true };
    if (piece.index === 0) this.seedPieces = [];
    if (piece.index !== this.seedPieces.length) {
      return { kind: 'error', code: 'refused', message: `seed piece ${piece.index} came after ${this.seedPieces.length} pieces (this replica restarted meanwhile): send the pieces again from 0` };
    }
    this.seedPieces.push(piece.data);
    if (this.seedPieces.length < piece.count) return { kind: 'ok', seeded: false };
    const data = this.seedPieces.join('');
    this.seedPieces = [];
    const sha256 = await sha256Hex(data);
    if (sha256 !== spec.sha256) {
      return { kind: 'error', code: 'refused', message: `the seed's SHA-256 is ${sha256}, not ${spec.sha256} as the stream's definition says: nothing was stored` };
    }
    if (!this.waitsForSeed(spec)) return { kind: 'ok', seeded: true }; // seeded meanwhile, by a concurrent restore
    this.storage.persist(seedDelta(spec.slot, data));
    this.storage.writeMeta(SEEDED_META, sha256);
    logEvent({ event: 'seeded', stream: to.stream, replica: to.replicaId, term: 0, slot: spec.slot, sha256, ...(to.requestId ? { request_id: to.requestId } : {}) });
    const host = this.ensureInitialized(to);
    if ('kind' in host) return host;
    return { kind: 'ok', seeded: true };
  }

  /** Whether this replica waits for its seed (seed.ts): the marker says not, or else its stored state decides. */
  private waitsForSeed(spec: SeedSpec): boolean {
    if (this.storage.readMeta(SEEDED_META) !== undefined) return false;
    return needsSeed(spec, this.storage.loadDurable());
  }

  /** Seed pieces received so far (see `seed`). */
  private seedPieces: string[] = [];

  /** Cost counters of this replica process (benchmarks, cost accounting). */
  async metrics(to: ReplicaIdentity): Promise<{ kind: 'ok'; metrics: ReplicaMetrics } | RpcError> {
    return this.enter(to, (host) => ({ kind: 'ok' as const, metrics: host.metrics() }));
  }

  // ---------------------------------------------------------------- RPC: fault injection

  /** Crash this replica: it restarts from storage on its next call or alarm, `downMs` from now at the earliest. */
  async crash(to: ReplicaIdentity, downMs = 0): Promise<{ kind: 'ok' } | RpcError> {
    return this.enter(to, async () => {
      if (downMs > 0) {
        const until = Date.now() + downMs;
        this.downUntil = until; // down from now on, even before the abort lands
        this.storage.writeMeta(DOWN_UNTIL_META, String(until));
        await this.ctx.storage.setAlarm(until);
      }
      // Answer first, then abort: the caller learns the crash was ordered.
      setTimeout(() => this.ctx.abort('edgepaxos chaos: crash'), 1);
      return { kind: 'ok' as const };
    });
  }

  async partition(to: ReplicaIdentity, groups: ReplicaId[][] | null): Promise<{ kind: 'ok' } | RpcError> {
    return this.enter(to, (host) => {
      host.setPartition(groups);
      return { kind: 'ok' as const };
    });
  }

  async unreliable(to: ReplicaIdentity, u: Unreliability | null): Promise<{ kind: 'ok' } | RpcError> {
    return this.enter(to, (host) => {
      host.setUnreliable(u);
      return { kind: 'ok' as const };
    });
  }

  // ---------------------------------------------------------------- RPC: deleting a stream

  /**
   * The stream was deleted (the catalog already says so): destroy this replica's
   * storage and alarm, keep only a tombstone, and refuse every later call.
   * Repeating it is harmless. Only streams created at run time can be deleted.
   */
  async destroy(to: ReplicaIdentity): Promise<{ kind: 'ok' } | RpcError> {
    if (to.generation === undefined) {
      return { kind: 'error', code: 'refused', message: `stream '${to.stream}' comes from the deployment's configuration and cannot be deleted at run time` };
    }
    // Admission only: a replica about to be destroyed is not started (and destroying one twice is harmless).
    const refused = this.admit(to);
    if (refused && refused.code !== 'stream_deleted') return refused;
    if (!this.deleted) await this.destroyStorage(to);
    return { kind: 'ok' };
  }

  /**
   * Drop everything this replica stored, leaving a tombstone, in one
   * transaction; then end this instance so that nothing still in flight in
   * it (a send, a waiting write) can touch storage again.
   */
  private async destroyStorage(identity: ReplicaIdentity): Promise<void> {
    this.deleted = true;
    this.host?.retire(); // nothing it still has in flight (replies, gathered writes) may write after the tombstone
    this.host = null;
    const { definition: _definition, ...name } = identity;
    this.storage.destroy(DELETED_META, JSON.stringify({ ...name, deleted_at: Date.now() }));
    this.alarmAt = null;
    await this.ctx.storage.deleteAlarm();
    setTimeout(() => this.ctx.abort('edgepaxos: stream deleted'), 1);
  }

  // ---------------------------------------------------------------- alarm

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.identity || this.deleted) return; // never initialised, or deleted: nothing to wake
    if (Date.now() < this.downUntil) {
      this.scheduleWake(this.downUntil); // still "off": wake when it comes back
      return;
    }
    const woken = this.enter(this.identity, (host) => host.wake());
    if (woken !== undefined) console.error(`edgepaxos: replica ${this.identity.stream}/${this.identity.replicaId} cannot start: ${woken.message}`);
  }

  /**
   * The one way in (partyserver's `ensureInitialized`): every RPC method and
   * the alarm run `fn` through here. It admits the call (not for a deleted
   * stream, a replica that is down by fault injection, or another replica),
   * starts the host once per instance (identity, configuration, recovery from
   * storage: `ensureInitialized`), and runs `fn` guarded: a thrown error is a
   * bug that crashes this replica (`guard`). Only `destroy` stops at admission:
   * a replica about to be destroyed must not start.
   */
  private enter<T>(to: ReplicaIdentity, fn: (host: ClockedHost) => T, how: { readonly fromPeer?: boolean } = {}): T | RpcError {
    const host = this.ensureInitialized(to, how.fromPeer ?? false);
    if ('kind' in host) return host;
    const requestId = typeof to.requestId === 'string' ? to.requestId.slice(0, 200) : undefined;
    return this.guard(() => host.serving(requestId, () => fn(host)));
  }

  /**
   * A thrown error here is a bug (a broken invariant in the core or host), not
   * an outcome: log it and crash this replica, which recovers from storage on
   * its next call, rather than go on with state that may be inconsistent.
   */
  private guard<T>(fn: () => T): T {
    try {
      const out = fn();
      if (out instanceof Promise) return out.catch((e: unknown) => this.crashOnBug(e)) as T;
      return out;
    } catch (e) {
      return this.crashOnBug(e);
    }
  }

  private crashOnBug(e: unknown): never {
    console.error(`edgepaxos: replica ${this.identity?.stream}/${this.identity?.replicaId} crashed on a bug:`, e);
    this.host = null;
    this.ctx.abort(`edgepaxos: ${String(e)}`);
    throw e;
  }

  // ---------------------------------------------------------------- setup

  /** Whether this object takes a call for `to` now: not once its stream was deleted, while it is down, or for another replica. */
  private admit(to: ReplicaIdentity): RpcError | null {
    if (this.deleted) return { kind: 'error', code: 'stream_deleted', message: `stream '${to.stream}' was deleted` };
    if (Date.now() < this.downUntil) {
      return { kind: 'error', code: 'down', message: `replica ${to.replicaId} is down (fault injection) for ${this.downUntil - Date.now()} ms more` };
    }
    return this.misrouted(to);
  }

  /**
   * The host of this replica, started on the first admitted call of this
   * instance. `fromPeer`: a replica of the stream calls (a leader reaching a
   * replica added by a membership change, which the bootstrap configuration
   * does not list).
   */
  private ensureInitialized(to: ReplicaIdentity, fromPeer = false): ClockedHost | RpcError {
    const refused = this.admit(to);
    if (refused) return refused;
    if (this.host) return this.host;
    const stream = this.streamOf(to);
    if ('kind' in stream) return stream;
    const listed = stream.replicas.some((r) => r.id === to.replicaId);
    if (!listed && !this.identity && !fromPeer) {
      return { kind: 'error', code: 'unknown_replica', message: `stream '${to.stream}' has no replica ${to.replicaId}` };
    }
    if (stream.restore && listed && this.waitsForSeed(stream.restore)) {
      return { kind: 'error', code: 'restoring', message: `replica ${to.replicaId} of stream '${to.stream}' waits for its seed (the snapshot the stream is restored from): it takes no part until it holds it` };
    }
    if (!this.identity) {
      const identity: ReplicaIdentity = to.generation === undefined ? { stream: to.stream, replicaId: to.replicaId } : { stream: to.stream, replicaId: to.replicaId, generation: to.generation };
      this.storage.writeMeta(IDENTITY_META, JSON.stringify(identity));
      this.identity = identity;
    }
    const config = stream;
    const host: ClockedHost = new ClockedHost({
      stream: config,
      replicaId: to.replicaId,
      storage: this.storage,
      transport: new RpcTransport(this.env, config, to.replicaId, to.generation, () => this.onPeerDeleted(), (peer) => this.host?.regionOf(peer)),
      now: () => Date.now(),
      seed: crypto.getRandomValues(new Uint32Array(1))[0]!,
      scheduleWake: (at) => this.scheduleWake(at),
      background: (p) => this.ctx.waitUntil(p),
      // A zero-delay timer fires once the calls already queued for this object have been delivered (write gathering).
      defer: (fn) => void setTimeout(() => this.runDeferred(host, fn), 0),
      simulateLatency: this.env.EDGEPAXOS_LATENCY === 'on',
      log: logEvent,
    });
    this.host = host;
    return host;
  }

  /**
   * A host's deferred work (the writes it gathered) runs only while it is
   * still this object's live host: after a delete, a crash or a rebuild
   * replaced it, or while the replica is down, the host is retired first, so
   * that the writes are answered `dropped` (never proposed) and nothing
   * touches storage or the network.
   */
  private runDeferred(host: ClockedHost, fn: () => void): void {
    if (this.host !== host || this.deleted || Date.now() < this.downUntil) host.retire();
    fn();
  }

  /** A call addressed to another replica than this one (a bug in the caller), or null. */
  private misrouted(to: ReplicaIdentity): RpcError | null {
    const self = this.identity;
    if (!self || (self.stream === to.stream && self.replicaId === to.replicaId && self.generation === to.generation)) return null;
    const name = (i: ReplicaIdentity): string => `replica ${i.replicaId} of stream '${i.stream}'${i.generation === undefined ? '' : ` (generation ${i.generation})`}`;
    return { kind: 'error', code: 'misrouted', message: `this is ${name(self)}, not ${name(to)}` };
  }

  /**
   * The configuration of the stream this replica belongs to: from
   * EDGEPAXOS_CONFIG for a configured stream (or the catalog); for a stream
   * created at run time, the definition stored by the first call, else the
   * one this call carries, validated here (it crossed RPC) and stored.
   */
  private streamOf(to: ReplicaIdentity): StreamConfig | RpcError {
    if (to.generation === undefined) {
      try {
        const stream = configuredStream(clusterConfig(this.env.EDGEPAXOS_CONFIG), to.stream);
        return stream ?? { kind: 'error', code: 'unknown_replica', message: `no stream '${to.stream}' is configured` };
      } catch (e) {
        if (e instanceof ConfigError) return { kind: 'error', code: 'invalid_configuration', message: e.message };
        throw e;
      }
    }
    const stored = this.storage.readMeta(DEFINITION_META);
    if (stored !== undefined) return JSON.parse(stored) as StreamConfig;
    if (to.definition === undefined) {
      return { kind: 'error', code: 'unknown_replica', message: `replica ${to.replicaId} of stream '${to.stream}' has not been given its definition` };
    }
    let definition: StreamConfig;
    try {
      definition = parseStreamDefinition(to.definition);
    } catch (e) {
      if (e instanceof DefinitionError) return { kind: 'error', code: 'invalid_configuration', message: `the definition of stream '${to.stream}' is invalid: ${e.message}` };
      throw e;
    }
    if (definition.name !== to.stream) {
      return { kind: 'error', code: 'misrouted', message: `a definition of stream '${definition.name}' was sent to stream '${to.stream}'` };
    }
    this.storage.writeMeta(DEFINITION_META, JSON.stringify(definition));
    return definition;
  }

  /**
   * A peer of this generation answered that the stream was deleted: a peer
   * is only destroyed after the catalog recorded the deletion, so this replica
   * (which the deleting request may not have reached) destroys itself too.
   * Deferred, so the send that learned it finishes first.
   */
  private onPeerDeleted(): void {
    const self = this.identity;
    if (this.deleted || !self || self.generation === undefined) return;
    setTimeout(() => void this.destroyStorage(self), 0);
  }

  /** One alarm per object: move it earlier when needed, never later than what is already set. */
  private scheduleWake(at: number): void {
    if (this.deleted) return;
    if (this.alarmAt !== null && this.alarmAt <= at && this.alarmAt > Date.now() - 1000) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}

/**
 * Durable Object RPC between replicas: one call per batch, replies in the
 * return value. A failed, refused or slow call is a lost message.
 */
class RpcTransport implements Transport {
  private readonly env: Cloudflare.Env;
  private readonly stream: StreamConfig;
  private readonly self: ReplicaId;
  private readonly generation: string | undefined;
  private readonly onPeerDeleted: () => void;
  private readonly timeoutMs: number;
  private readonly regionOf: (peer: ReplicaId) => string | undefined;
  /** One stub per peer (and region hint), reused across sends. */
  private readonly stubs = new Map<string, DurableObjectStub<ReplicaObject>>();
  private readonly deadlines = new Deadlines();

  constructor(
    env: Cloudflare.Env,
    stream: StreamConfig,
    self: ReplicaId,
    generation: string | undefined,
    onPeerDeleted: () => void,
    regionOf: (peer: ReplicaId) => string | undefined,
  ) {
    this.env = env;
    this.stream = stream;
    this.self = self;
    this.generation = generation;
    this.onPeerDeleted = onPeerDeleted;
    this.timeoutMs = timingWindows(stream).peerRpcTimeoutMs;
    this.regionOf = regionOf;
  }

  async send(to: ReplicaId, messages: Message[]): Promise<Message[]> {
    const region = this.regionOf(to);
    const key = `${to}@${region ?? ''}`;
    let stub = this.stubs.get(key);
    if (!stub) {
      stub = replicaStub(this.env, this.stream, to, this.generation, region);
      this.stubs.set(key, stub);
    }
    let cancel: (() => void) | undefined;
    try {
      const call = stub.deliver(replicaIdentity(this.stream, to, this.generation), this.self, wireBatch(messages));
      const timeout = new Promise<null>((resolve) => (cancel = this.deadlines.add(this.timeoutMs, () => resolve(null))));
      const res = await Promise.race([call, timeout]);
      if (res && res.kind === 'error' && res.code === 'stream_deleted') this.onPeerDeleted();
      if (!res || res.kind !== 'ok') return [];
      return unwrapBatch(res.messages) as Message[]; // validated by the host (wire.ts)
    } catch {
      // The peer is down or restarting: a lost message. A stub that threw may be broken for good
      // (Cloudflare's advice is to make a new one), so the next send makes a new one.
      this.stubs.delete(key);
      return [];
    } finally {
      cancel?.();
    }
  }
}

/** Used by the API layer to tell an RPC error value from a result. */
export function isRpcError(x: unknown): x is RpcError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'error';
}

export { ConfigError };
export type { LeaseView, LogRead, LogRecord, ReadOutcome, ReconfigureOutcome, ReplicaView, WatchOutcome, WriteOutcome };
