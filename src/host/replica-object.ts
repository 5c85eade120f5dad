import { DurableObject } from 'cloudflare:workers';
import type { ClientCommand, Configuration, KvItem, Message, OperatorResult, ReplicaId } from '../core/index.ts';
import { ConfigError, type StreamConfig, clusterConfig, findStream } from './config.ts';
import {
  type LogRecord,
  type OperatorAction,
  type ReadOutcome,
  type ReconfigureOutcome,
  ReplicaHost,
  type ReplicaMetrics,
  type ReplicaView,
  type Transport,
  type Unreliability,
  type WriteOutcome,
} from './replica-host.ts';
import { ReplicaRunner } from './runner.ts';
import { SqliteStorage } from './sqlite-storage.ts';

/** Which replica of which stream a Durable Object is. Every call names it; the first one is stored. */
export interface ReplicaIdentity {
  readonly stream: string;
  readonly replicaId: ReplicaId;
}

/** Errors cross RPC as values, never as exceptions. */
export type RpcError = {
  readonly kind: 'error';
  /** `down`: the replica was crashed by fault injection and stays down for a while; like an unreachable one. */
  readonly code: 'misrouted' | 'invalid_configuration' | 'unknown_replica' | 'down';
  readonly message: string;
};

export type Consistency = 'linearizable' | 'stale';

export function replicaObjectName(stream: string, replicaId: ReplicaId): string {
  return `${stream}/${replicaId}`;
}

/**
 * The stub of a replica, created in its region on first use (location hints
 * only count then). `region` names it for a replica added after bootstrap.
 */
export function replicaStub(env: Cloudflare.Env, stream: StreamConfig, replicaId: ReplicaId, region?: string): DurableObjectStub<ReplicaObject> {
  const hint = region ?? stream.replicas.find((r) => r.id === replicaId)?.region;
  const id = env.REPLICA.idFromName(replicaObjectName(stream.name, replicaId));
  return env.REPLICA.get(id, hint ? { locationHint: hint as DurableObjectLocationHint } : undefined);
}

const IDENTITY_META = 'identity';
const DOWN_UNTIL_META = 'chaos:down-until';

/**
 * One replica of one stream as a Durable Object with SQLite storage. Every
 * entry point (RPC or alarm) goes through `ensureHost`, which checks the
 * identity, loads the configuration and recovers the replica from storage once
 * per instance. The alarm is the durable wake-up for the replica's timers.
 */
export class ReplicaObject extends DurableObject<Cloudflare.Env> {
  private readonly storage: SqliteStorage;
  private host: ReplicaHost | null = null;
  private identity: ReplicaIdentity | null = null;
  private alarmAt: number | null = null;
  /** Fault injection: until then this replica acts as if its machine were off. */
  private downUntil = 0;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.storage = new SqliteStorage(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      const stored = this.storage.readMeta(IDENTITY_META);
      if (stored) this.identity = JSON.parse(stored) as ReplicaIdentity;
      this.downUntil = Number(this.storage.readMeta(DOWN_UNTIL_META) ?? 0);
    });
  }

  // ---------------------------------------------------------------- RPC: replicas

  /** Paxos messages from a peer; the answer carries our replies to it. */
  async deliver(to: ReplicaIdentity, from: ReplicaId, messages: unknown): Promise<{ kind: 'ok'; messages: Message[] } | RpcError> {
    const host = this.ensureHost(to, true);
    if ('kind' in host) return host;
    return this.guard(() => ({ kind: 'ok' as const, messages: host.deliver(from, messages) }));
  }

  // ---------------------------------------------------------------- RPC: the Worker

  async write(to: ReplicaIdentity, command: ClientCommand, timeoutMs: number): Promise<WriteOutcome | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return this.guard(() => host.write(command, timeoutMs));
  }

  async get(to: ReplicaIdentity, key: string, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<KvItem | null> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    const read = (): KvItem | null => host.getLocal(key) ?? null;
    if (consistency === 'linearizable') return this.guard(() => host.readLinearizable(read, timeoutMs));
    return host.runner.keepsData ? { kind: 'ok', value: read() } : { kind: 'unavailable' }; // a logger has no data to read
  }

  async list(to: ReplicaIdentity, prefix: string, limit: number, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<KvItem[]> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    const read = (): KvItem[] => host.listLocal(prefix, limit);
    if (consistency === 'linearizable') return this.guard(() => host.readLinearizable(read, timeoutMs));
    return host.runner.keepsData ? { kind: 'ok', value: read() } : { kind: 'unavailable' };
  }

  async readLog(to: ReplicaIdentity, from: number, limit: number, timeoutMs: number): Promise<ReadOutcome<LogRecord[]> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return this.guard(() => host.readLinearizable(() => host.logLocal(from, limit), timeoutMs));
  }

  async status(to: ReplicaIdentity): Promise<{ kind: 'ok'; view: ReplicaView } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return this.guard(() => ({ kind: 'ok' as const, view: host.view() }));
  }

  /** An operator control (switchover, step-down, promote, run mode), answered with a result value. */
  async operate(to: ReplicaIdentity, action: OperatorAction): Promise<OperatorResult | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return this.guard(() => host.operate(action));
  }

  /** Propose a configuration change (membership) at this replica, the leader, and wait for its outcome. */
  async reconfigure(to: ReplicaIdentity, configuration: Configuration, timeoutMs: number): Promise<ReconfigureOutcome | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return this.guard(() => host.reconfigure(configuration, timeoutMs));
  }

  /**
   * Rebuild (DCF build, Patroni reinitialize) of a replica fenced by a minority
   * force-start: forget everything it stored and start it blank in `epoch`; the
   * leader then sends it a snapshot and the log. Refused for a replica that is
   * not fenced: its promises and accepted values may be what a quorum relies on.
   */
  async rebuild(to: ReplicaIdentity, epoch: number): Promise<OperatorResult | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    const st = host.runner.core.status();
    if (!st.fenced) {
      return { ok: false, code: 'invalid-target', message: `replica ${to.replicaId} is not fenced: a replica that takes part in the current history cannot be wiped safely (remove it and add a new replica instead)` };
    }
    if (epoch <= st.epoch) return { ok: false, code: 'invalid-target', message: `epoch ${epoch} is not after this replica's ${st.epoch}` };
    ReplicaRunner.wipe(this.storage, epoch);
    this.host = null;
    const fresh = this.ensureHost(to);
    if ('kind' in fresh) return fresh;
    return { ok: true, target: to.replicaId };
  }

  /** Cost counters of this replica process (benchmarks, cost accounting). */
  async metrics(to: ReplicaIdentity): Promise<{ kind: 'ok'; metrics: ReplicaMetrics } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return { kind: 'ok', metrics: host.metrics() };
  }

  // ---------------------------------------------------------------- RPC: fault injection

  /** Crash this replica: it restarts from storage on its next call or alarm, `downMs` from now at the earliest. */
  async crash(to: ReplicaIdentity, downMs = 0): Promise<{ kind: 'ok' } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    if (downMs > 0) {
      const until = Date.now() + downMs;
      this.downUntil = until; // down from now on, even before the abort lands
      this.storage.writeMeta(DOWN_UNTIL_META, String(until));
      await this.ctx.storage.setAlarm(until);
    }
    // Answer first, then abort: the caller learns the crash was ordered.
    setTimeout(() => this.ctx.abort('edgepaxos chaos: crash'), 1);
    return { kind: 'ok' };
  }

  async partition(to: ReplicaIdentity, groups: ReplicaId[][] | null): Promise<{ kind: 'ok' } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    host.setPartition(groups);
    return { kind: 'ok' };
  }

  async unreliable(to: ReplicaIdentity, u: Unreliability | null): Promise<{ kind: 'ok' } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    host.setUnreliable(u);
    return { kind: 'ok' };
  }

  // ---------------------------------------------------------------- alarm

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.identity) return; // never initialised: nothing to wake
    if (Date.now() < this.downUntil) {
      this.scheduleWake(this.downUntil); // still "off": wake when it comes back
      return;
    }
    const host = this.ensureHost(this.identity);
    if ('kind' in host) {
      console.error(`edgepaxos: replica ${this.identity.stream}/${this.identity.replicaId} cannot start: ${host.message}`);
      return;
    }
    this.guard(() => host.wake());
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

  /**
   * `fromPeer`: a replica of the stream calls (a leader reaching a replica
   * added by a membership change, which the bootstrap configuration does not list).
   */
  private ensureHost(to: ReplicaIdentity, fromPeer = false): ReplicaHost | RpcError {
    if (Date.now() < this.downUntil) {
      return { kind: 'error', code: 'down', message: `replica ${to.replicaId} is down (fault injection) for ${this.downUntil - Date.now()} ms more` };
    }
    if (this.identity && (this.identity.stream !== to.stream || this.identity.replicaId !== to.replicaId)) {
      return {
        kind: 'error',
        code: 'misrouted',
        message: `this is replica ${this.identity.replicaId} of stream '${this.identity.stream}', not ${to.replicaId} of '${to.stream}'`,
      };
    }
    if (this.host) return this.host;
    let stream: StreamConfig | undefined;
    try {
      stream = findStream(clusterConfig(this.env.EDGEPAXOS_CONFIG), to.stream);
    } catch (e) {
      if (e instanceof ConfigError) return { kind: 'error', code: 'invalid_configuration', message: e.message };
      throw e;
    }
    const listed = stream?.replicas.some((r) => r.id === to.replicaId) ?? false;
    if (!stream || (!listed && !this.identity && !fromPeer)) {
      return { kind: 'error', code: 'unknown_replica', message: `stream '${to.stream}' has no replica ${to.replicaId}` };
    }
    if (!this.identity) {
      this.storage.writeMeta(IDENTITY_META, JSON.stringify(to));
      this.identity = to;
    }
    const config = stream;
    this.host = new ReplicaHost({
      stream: config,
      replicaId: to.replicaId,
      storage: this.storage,
      transport: new RpcTransport(this.env, config, to.replicaId, (peer) => this.host?.regionOf(peer)),
      now: () => Date.now(),
      seed: crypto.getRandomValues(new Uint32Array(1))[0]!,
      scheduleWake: (at) => this.scheduleWake(at),
      background: (p) => this.ctx.waitUntil(p),
      simulateLatency: this.env.EDGEPAXOS_LATENCY === 'on',
    });
    return this.host;
  }

  /** One alarm per object: move it earlier when needed, never later than what is already set. */
  private scheduleWake(at: number): void {
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
  private readonly timeoutMs: number;
  private readonly regionOf: (peer: ReplicaId) => string | undefined;

  constructor(env: Cloudflare.Env, stream: StreamConfig, self: ReplicaId, regionOf: (peer: ReplicaId) => string | undefined) {
    this.env = env;
    this.stream = stream;
    this.self = self;
    this.timeoutMs = stream.election_timeout_ms;
    this.regionOf = regionOf;
  }

  async send(to: ReplicaId, messages: Message[]): Promise<Message[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const stub = replicaStub(this.env, this.stream, to, this.regionOf(to));
      const call = stub.deliver({ stream: this.stream.name, replicaId: to }, this.self, messages);
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), this.timeoutMs)));
      const res = await Promise.race([call, timeout]);
      if (!res || res.kind !== 'ok') return [];
      return res.messages as Message[];
    } catch {
      return []; // the peer is down or restarting: a lost message
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

/** Used by the API layer to tell an RPC error value from a result. */
export function isRpcError(x: unknown): x is RpcError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'error';
}

export { ConfigError };
export type { LogRecord, ReadOutcome, ReconfigureOutcome, ReplicaView, WriteOutcome };
