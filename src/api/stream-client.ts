import type { ClientCommand, ConfigCommand, ReplicaId } from '../core/index.ts';
import type { DcfConfiguration as Configuration, DcfMember as Member } from '../host/dcf.ts';
import type { KvResult } from '../kv/index.ts';
import { type Region, type StreamConfig, streamConfiguration } from '../host/config.ts';
import { timingWindows } from '../host/timing-windows.ts';
import {
  type ReadOutcome,
  type ReplicaIdentity,
  type ReplicaObject,
  type ReplicaView,
  type RpcError,
  type WriteOutcome,
  isRpcError,
  replicaIdentity,
  replicaStub,
} from '../host/replica-object.ts';
import { ApiError } from './errors.ts';

type WithoutId<C> = C extends unknown ? Omit<C, 'id'> : never;

/**
 * A write as the API asks for it; the client adds a fresh command id per
 * attempt. Every write carries an idempotency key except a keep-alive, which
 * may apply twice harmlessly (and must not be answered with an older result).
 */
export type WriteRequest = WithoutId<Exclude<ClientCommand, ConfigCommand | { kind: 'lease-expire' }>>;

type Stub = DurableObjectStub<ReplicaObject>;

/**
 * Where a stream comes from: `configured` in EDGEPAXOS_CONFIG, `dynamic`
 * (created at run time, recorded in the catalog, with an incarnation that is
 * part of its replicas' names) or `system` (the catalog itself).
 */
export type StreamPlacement =
  | { readonly kind: 'configured' | 'system' }
  | {
      readonly kind: 'dynamic';
      readonly incarnation: string;
      /** Called when a replica answers that the stream was deleted (forget any cached catalog entry). */
      readonly onDeleted?: () => void;
    };

/** Which replica led each stream last time this isolate looked. */
const leaderCache = new Map<string, ReplicaId>();

/**
 * The newest configuration each stream's replicas reported to this isolate
 * (membership changes live in the log; EDGEPAXOS_CONFIG holds only the
 * bootstrap one). Learned from status views and membership calls.
 */
const configurationCache = new Map<string, { index: number; configuration: Configuration }>();

/** Regions to try first for a stale read, by the continent Cloudflare says the request came from. */
const NEAR: Readonly<Record<string, readonly Region[]>> = {
  NA: ['wnam', 'enam'],
  SA: ['sam', 'enam'],
  EU: ['weur', 'eeur', 'me'],
  AF: ['afr', 'weur', 'me'],
  AS: ['apac', 'me', 'eeur'],
  OC: ['oc', 'apac'],
  AN: ['oc', 'sam'],
};

/**
 * How the Worker talks to one stream's replicas: requests go to the leader
 * (cached, corrected by not-leader hints), are retried across a leader change
 * with the same idempotency key, and stale reads go to the nearest replica.
 */
export class StreamClient {
  readonly stream: StreamConfig;
  readonly placement: StreamPlacement;
  private readonly env: Cloudflare.Env;
  private readonly incarnation: string | undefined;
  /** Key of the leader cache: an incarnation is a stream of its own. */
  private readonly cacheKey: string;
  /** How long a request may keep retrying before the client is told. */
  private readonly deadlineMs: number;
  private readonly backoffMs: number;
  /** The Worker request this client serves: every call to a replica carries it, for the replica's logs. */
  requestId: string | undefined;

  constructor(env: Cloudflare.Env, stream: StreamConfig, placement: StreamPlacement = { kind: 'configured' }) {
    this.env = env;
    this.stream = stream;
    this.placement = placement;
    this.incarnation = placement.kind === 'dynamic' ? placement.incarnation : undefined;
    this.cacheKey = this.incarnation === undefined ? stream.name : `${stream.name}~${this.incarnation}`;
    this.deadlineMs = timingWindows(stream).requestDeadlineMs;
    this.backoffMs = stream.heartbeat_interval_ms;
  }

  /** Apply a write exactly once, wherever the leader is; throws ApiError when it cannot say. */
  async write(request: WriteRequest): Promise<KvResult> {
    const deadline = Date.now() + this.deadlineMs;
    const idempotencyKey = 'idempotencyKey' in request ? request.idempotencyKey : undefined;
    let target = this.firstTarget();
    let uncertain = false;
    const pacer = new Pacer(this.backoffMs, this.members().length);
    while (Date.now() < deadline) {
      const command = { ...request, id: crypto.randomUUID() } as Exclude<ClientCommand, ConfigCommand>;
      const raw: WriteOutcome | RpcError | { kind: 'unreachable' } = await this.stub(target)
        .write(this.identity(target), command, Math.max(1, Math.min(deadline - Date.now(), timingWindows(this.stream).writeAttemptMs)))
        .catch(() => ({ kind: 'unreachable' as const }));
      const res = isDown(raw) ? ({ kind: 'not-leader', leaderHint: null } as const) : raw; // a down replica never saw it
      if (isRpcError(res)) throw this.failure(res);
      if (res.kind === 'overloaded') throw this.overloaded(uncertain, idempotencyKey);
      if (res.kind === 'applied') {
        leaderCache.set(this.cacheKey, target);
        return res.result;
      }
      // Not proposed (not-leader, dropped) or maybe proposed (outcome-unknown, unreachable):
      // either way the next attempt carries the same idempotency key, so it applies at most once.
      if (res.kind === 'outcome-unknown' || res.kind === 'unreachable') uncertain = true;
      const hint = res.kind === 'not-leader' ? res.leaderHint : null;
      target = this.follow(target, hint);
      await pacer.next(hint !== null);
    }
    if (uncertain) {
      if (idempotencyKey === undefined) {
        throw new ApiError(503, 'outcome_unknown', 'the request may or may not have been applied (the leader was lost while it was in flight); repeating it is safe');
      }
      throw new ApiError(
        503,
        'outcome_unknown',
        'the write may or may not have been applied (the leader was lost while it was in flight); retrying it with the same Idempotency-Key is safe',
        { idempotency_key: idempotencyKey },
      );
    }
    throw new ApiError(503, 'unavailable', 'no leader could be reached in time; the write was not applied');
  }

  /** A linearizable read through the leader (read-index). */
  async readLinearizable<T>(call: (stub: Stub, id: ReplicaIdentity, timeoutMs: number) => Promise<ReadOutcome<T> | RpcError>): Promise<T> {
    const deadline = Date.now() + this.deadlineMs;
    let target = this.firstTarget();
    const pacer = new Pacer(this.backoffMs, this.members().length);
    while (Date.now() < deadline) {
      const raw = await call(this.stub(target), this.identity(target), Math.max(1, Math.min(deadline - Date.now(), timingWindows(this.stream).readAttemptMs))).catch(
        () => ({ kind: 'unavailable' as const }),
      );
      const res = isDown(raw) ? ({ kind: 'unavailable' } as const) : raw;
      if (isRpcError(res)) throw this.failure(res);
      if (res.kind === 'overloaded') throw this.overloaded(false, null);
      if (res.kind === 'ok') {
        leaderCache.set(this.cacheKey, target);
        return res.value;
      }
      const hint = res.kind === 'not-leader' ? res.leaderHint : null;
      target = this.follow(target, hint);
      await pacer.next(hint !== null);
    }
    throw new ApiError(503, 'unavailable', 'no leader could confirm a linearizable read in time; a stale read (?consistency=stale) may still answer');
  }

  /** A stale read from the nearest replica that answers. */
  async readStale<T>(continent: string | undefined, call: (stub: Stub, id: ReplicaIdentity) => Promise<ReadOutcome<T> | RpcError>): Promise<T> {
    for (const r of this.byNearness(continent)) {
      const res = await call(this.stub(r.id), this.identity(r.id)).catch(() => null);
      if (res === null || isDown(res)) continue;
      if (isRpcError(res)) throw this.failure(res);
      if (res.kind === 'ok') return res.value;
    }
    throw new ApiError(503, 'unavailable', 'no replica answered');
  }

  /**
   * The own view of every replica this isolate knows of (the bootstrap ones and
   * every member of the newest configuration reported), or null for those that
   * did not answer within `timeoutMs`. Members revealed by the answers are asked too.
   * A deleted stream is a stream that does not exist, not one whose replicas are all down.
   */
  async views(timeoutMs: number): Promise<{ readonly id: ReplicaId; readonly view: ReplicaView | null }[]> {
    const out: { id: ReplicaId; view: ReplicaView | null }[] = [];
    const asked = new Set<ReplicaId>();
    for (let round = 0; round < 2; round++) {
      const ids = this.knownIds().filter((id) => !asked.has(id));
      if (ids.length === 0) break;
      for (const id of ids) asked.add(id);
      const answers = await Promise.all(ids.map((id) => this.viewOf(id, timeoutMs)));
      const deleted = answers.find((a): a is RpcError => isRpcError(a) && a.code === 'stream_deleted');
      if (deleted) throw this.failure(deleted);
      ids.forEach((id, i) => {
        const a = answers[i]!;
        out.push({ id, view: isRpcError(a) ? null : a });
      });
      for (const v of answers) if (v && !isRpcError(v)) this.learn(v.configuration_index, v.configuration);
    }
    return out.sort((a, b) => a.id - b.id);
  }

  private async viewOf(id: ReplicaId, timeoutMs: number): Promise<ReplicaView | RpcError | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      const res = await Promise.race([this.stub(id).status(this.identity(id)), timeout]);
      if (!res || isRpcError(res)) return res ?? null;
      return res.view;
    } catch {
      return null;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** Remember `configuration` if it is newer than what this isolate knew. */
  learn(index: number, configuration: Configuration): void {
    const known = configurationCache.get(this.cacheKey);
    if (!known || index > known.index) configurationCache.set(this.cacheKey, { index, configuration });
  }

  /** The newest configuration known here, and the slot that set it (0: the bootstrap one). */
  configuration(): { readonly index: number; readonly configuration: Configuration } {
    return configurationCache.get(this.cacheKey) ?? { index: 0, configuration: streamConfiguration(this.stream) };
  }

  /** The members of the newest configuration known here. */
  members(): readonly Member[] {
    return this.configuration().configuration.members;
  }

  /** Every replica worth asking: the members, and bootstrap replicas that may have been removed since. */
  knownIds(): ReplicaId[] {
    const ids = new Set<ReplicaId>([...this.stream.replicas.map((r) => r.id), ...this.members().map((m) => m.id)]);
    return [...ids].sort((a, b) => a - b);
  }

  stub(id: ReplicaId): Stub {
    return replicaStub(this.env, this.stream, id, this.incarnation, this.members().find((m) => m.id === id)?.region);
  }

  identity(id: ReplicaId): ReplicaIdentity {
    const identity = replicaIdentity(this.stream, id, this.incarnation);
    return this.requestId === undefined ? identity : { ...identity, requestId: this.requestId };
  }

  /**
   * The HTTP error for an error a replica returned. A deleted stream answers
   * like an unknown one (a Worker may still have had it cached); anything
   * else is a fault of the deployment.
   */
  failure(error: RpcError): ApiError {
    if (error.code === 'stream_deleted') {
      if (this.placement.kind === 'dynamic') this.placement.onDeleted?.();
      return new ApiError(404, 'stream_not_found', `stream '${this.stream.name}' was deleted`);
    }
    return new ApiError(500, error.code, error.message);
  }

  /**
   * The leader holds its limit of waiting requests (the stream's `queue_max`):
   * answered at once, not retried, so the load falls. This attempt was not
   * proposed; an earlier attempt of the same write that may have been is said.
   */
  private overloaded(uncertain: boolean, idempotencyKey: string | null | undefined): ApiError {
    const retryAfterS = Math.max(1, Math.ceil((2 * this.stream.heartbeat_interval_ms) / 1000));
    const message = `the leader of stream '${this.stream.name}' already holds ${this.stream.queue_max} requests waiting (queue_max); this one was not applied: retry after ${retryAfterS} s`;
    if (uncertain && idempotencyKey !== null && idempotencyKey !== undefined) {
      return new ApiError(503, 'outcome_unknown', `an earlier attempt may have been applied, and the leader is now overloaded; retrying with the same Idempotency-Key is safe`, { idempotency_key: idempotencyKey }, { 'retry-after': String(retryAfterS) });
    }
    return new ApiError(429, 'overloaded', message, { retry_after_s: retryAfterS }, { 'retry-after': String(retryAfterS) });
  }

  /** Every member, nearest to `continent` first (the order of stale reads; loggers included). */
  nearest(continent: string | undefined): Member[] {
    const near: readonly string[] = (continent && NEAR[continent]) || [];
    const rank = (r: Member): number => {
      const i = r.region === undefined ? -1 : near.indexOf(r.region);
      return i < 0 ? near.length : i;
    };
    return this.byPriority().sort((a, b) => rank(a) - rank(b));
  }

  /**
   * How near the leader this isolate last saw is to a caller on `continent`:
   * 0 when it is in the continent's nearest region, higher further away, null
   * when no leader is known here (or the continent is unknown).
   */
  leaderNearness(continent: string | undefined): number | null {
    const leader = this.cachedLeader();
    const near: readonly string[] = (continent && NEAR[continent]) || [];
    if (leader === null || near.length === 0) return null;
    const region = this.members().find((m) => m.id === leader)?.region;
    const i = region === undefined ? -1 : near.indexOf(region);
    return i < 0 ? near.length : i;
  }

  /**
   * For a shard under `leaders: follow`: the region of this stream's replicas
   * that can lead nearest a caller on `continent` (Cloudflare's continent of
   * the request, through the nearness order of stale reads), or undefined
   * (another stream, an unknown continent, or no such replica near it). The
   * router sends it with each write as its `origin`, which the shard's leader
   * counts (src/kv/traffic-follower.ts).
   */
  originRegion(continent: string | undefined): Region | undefined {
    if (this.stream.leaders !== 'follow') return undefined;
    const near: readonly Region[] = (continent && NEAR[continent]) || [];
    return near.find((region) => this.members().some((m) => m.region === region && m.role === 'follower'));
  }

  /** The replica this isolate last saw leading the stream, if any. */
  cachedLeader(): ReplicaId | null {
    return leaderCache.get(this.cacheKey) ?? null;
  }

  private firstTarget(): ReplicaId {
    return leaderCache.get(this.cacheKey) ?? this.byPriority()[0]!.id;
  }

  /** The hinted leader, or else the next replica in priority order. */
  private follow(current: ReplicaId, hint: ReplicaId | null): ReplicaId {
    leaderCache.delete(this.cacheKey);
    if (hint !== null && this.knownIds().includes(hint)) return hint;
    const order = this.byPriority();
    const i = order.findIndex((r) => r.id === current);
    return order[(i + 1) % order.length]!.id;
  }

  /** Replicas that can lead first, highest priority first. */
  private byPriority(): Member[] {
    const leads = (r: Member): number => (r.role === 'follower' ? 0 : 1);
    return [...this.members()].sort((a, b) => leads(a) - leads(b) || b.priority - a.priority || a.id - b.id);
  }

  private byNearness(continent: string | undefined): Member[] {
    // Loggers keep no data: stale reads go to followers and passive replicas only.
    return this.nearest(continent).filter((r) => r.role !== 'logger');
  }
}

/**
 * Paces retries: following a leader hint goes at once (a few times in a row at
 * most, in case hints are stale), anything else waits a heartbeat interval (an
 * election is probably under way, and every replica touched is now awake).
 */
class Pacer {
  private hops = 0;
  private readonly backoffMs: number;
  private readonly maxHops: number;

  constructor(backoffMs: number, maxHops: number) {
    this.backoffMs = backoffMs;
    this.maxHops = maxHops;
  }

  async next(hinted: boolean): Promise<void> {
    if (hinted && this.hops < this.maxHops) {
      this.hops += 1;
      return;
    }
    this.hops = 0;
    await new Promise((resolve) => setTimeout(resolve, this.backoffMs));
  }
}

function isDown(x: unknown): boolean {
  return isRpcError(x) && x.code === 'down';
}
