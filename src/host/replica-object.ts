import { DurableObject } from 'cloudflare:workers';
import type { ClientCommand, KvItem, Message, ReplicaId } from '../core/index.ts';
import { ConfigError, type StreamConfig, clusterConfig, findStream } from './config.ts';
import {
  type LogRecord,
  type ReadOutcome,
  ReplicaHost,
  type ReplicaView,
  type Transport,
  type Unreliability,
  type WriteOutcome,
} from './replica-host.ts';
import { SqliteStorage } from './sqlite-storage.ts';

/** Which replica of which stream a Durable Object is. Every call names it; the first one is stored. */
export interface ReplicaIdentity {
  readonly stream: string;
  readonly replicaId: ReplicaId;
}

/** Errors cross RPC as values, never as exceptions. */
export type RpcError = { readonly kind: 'error'; readonly code: 'misrouted' | 'invalid_configuration' | 'unknown_replica'; readonly message: string };

export type Consistency = 'linearizable' | 'stale';

export function replicaObjectName(stream: string, replicaId: ReplicaId): string {
  return `${stream}/${replicaId}`;
}

/** The stub of a replica, created in its region on first use (location hints only count then). */
export function replicaStub(env: Cloudflare.Env, stream: StreamConfig, replicaId: ReplicaId): DurableObjectStub<ReplicaObject> {
  const replica = stream.replicas.find((r) => r.id === replicaId);
  const id = env.REPLICA.idFromName(replicaObjectName(stream.name, replicaId));
  return env.REPLICA.get(id, replica ? { locationHint: replica.region } : undefined);
}

const IDENTITY_META = 'identity';

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

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.storage = new SqliteStorage(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      const stored = this.storage.readMeta(IDENTITY_META);
      if (stored) this.identity = JSON.parse(stored) as ReplicaIdentity;
    });
  }

  // ---------------------------------------------------------------- RPC: replicas

  /** Paxos messages from a peer; the answer carries our replies to it. */
  async deliver(to: ReplicaIdentity, from: ReplicaId, messages: unknown): Promise<{ kind: 'ok'; messages: Message[] } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return { kind: 'ok', messages: host.deliver(from, messages) };
  }

  // ---------------------------------------------------------------- RPC: the Worker

  async write(to: ReplicaIdentity, command: ClientCommand, timeoutMs: number): Promise<WriteOutcome | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return host.write(command, timeoutMs);
  }

  async get(to: ReplicaIdentity, key: string, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<KvItem | null> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    const read = (): KvItem | null => host.getLocal(key) ?? null;
    return consistency === 'stale' ? { kind: 'ok', value: read() } : host.readLinearizable(read, timeoutMs);
  }

  async list(to: ReplicaIdentity, prefix: string, limit: number, consistency: Consistency, timeoutMs: number): Promise<ReadOutcome<KvItem[]> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    const read = (): KvItem[] => host.listLocal(prefix, limit);
    return consistency === 'stale' ? { kind: 'ok', value: read() } : host.readLinearizable(read, timeoutMs);
  }

  async readLog(to: ReplicaIdentity, from: number, limit: number, timeoutMs: number): Promise<ReadOutcome<LogRecord[]> | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return host.readLinearizable(() => host.logLocal(from, limit), timeoutMs);
  }

  async status(to: ReplicaIdentity): Promise<{ kind: 'ok'; view: ReplicaView } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return { kind: 'ok', view: host.view() };
  }

  /** A fresh command id from this replica (so ids never repeat across Worker isolates). */
  async commandId(to: ReplicaIdentity, prefix: string): Promise<string | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
    return host.nextCommandId(prefix);
  }

  // ---------------------------------------------------------------- RPC: fault injection

  /** Crash this replica: it restarts from storage on its next call. */
  async crash(to: ReplicaIdentity): Promise<{ kind: 'ok' } | RpcError> {
    const host = this.ensureHost(to);
    if ('kind' in host) return host;
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
    const host = this.ensureHost(this.identity);
    if ('kind' in host) {
      console.error(`edgepaxos: replica ${this.identity.stream}/${this.identity.replicaId} cannot start: ${host.message}`);
      return;
    }
    host.wake();
  }

  // ---------------------------------------------------------------- setup

  private ensureHost(to: ReplicaIdentity): ReplicaHost | RpcError {
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
    if (!stream || !stream.replicas.some((r) => r.id === to.replicaId)) {
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
      transport: new RpcTransport(this.env, config, to.replicaId),
      now: () => Date.now(),
      seed: crypto.getRandomValues(new Uint32Array(1))[0]!,
      scheduleWake: (at) => this.scheduleWake(at),
      background: (p) => this.ctx.waitUntil(p),
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

  constructor(env: Cloudflare.Env, stream: StreamConfig, self: ReplicaId) {
    this.env = env;
    this.stream = stream;
    this.self = self;
    this.timeoutMs = stream.election_timeout_ms;
  }

  async send(to: ReplicaId, messages: Message[]): Promise<Message[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const stub = replicaStub(this.env, this.stream, to);
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
export type { LogRecord, ReadOutcome, ReplicaView, WriteOutcome };
