import type {
  DeleteOptions,
  GetOptions,
  KeyspaceDeleteResult,
  KeyspaceItem,
  KeyspaceListResult,
  KeyspacePutResult,
  KeyspaceStatus,
  KeyspaceTxnOpResult,
  KeyspaceTxnResult,
  ListOptions,
  PutOptions,
  TxnRequest,
} from '../client/types.ts';
import type { TxnCompare, TxnOp, TxnOutcome } from '../core/index.ts';
import type { ReadOutcome, ReplicaIdentity, ReplicaObject, RpcError } from '../host/replica-object.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { type IntentView, type KvItem as StoredItem, type KvResult, type ShardRead, type TxnOpResult, type TxnVote, outcomeOf, rangesOf, shardOfKey, txnKeys } from '../kv/index.ts';
import { ApiError } from './errors.ts';
import { type Access, type Principal, authorize } from './grants.ts';
import { type Keyspace, resolveKeyspace, shardClient, shardStream } from './keyspace-catalog.ts';
import { pickLeader } from './operations-service.ts';
import { checkTxn, decodeCursor, encodeCursor, refuseRejected, toCoreTxn, unexpected } from './service.ts';
import type { StreamClient, WriteRequest } from './stream-client.ts';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, checkKey, checkValueSize, maxValueBytes } from './validation.ts';

/**
 * The router (OBProxy's job): keyspace operations, one code path behind the
 * HTTP routes and the RPC methods. A key goes to the shard its hash falls in
 * under the keyspace's shard map; the command carries the map version, and
 * the shard refuses (`wrong_shard`, applying nothing) a key it does not own
 * under that version, so a Worker with a stale map is corrected, never
 * obeyed: it assigns the shard its ranges if the shard is behind, or reads
 * the map again from the catalog if it is, and retries.
 *
 * Transactions on one shard are one decided command there. Transactions over
 * several shards run two-phase commit: every participant decides a prepare
 * (intents on its keys, no waiting: a conflict votes no), the coordinator
 * shard (the one led nearest the caller) decides the outcome in its log (the first
 * decided wins), and every participant then decides a resolve. Any request
 * that meets an intent settles it: it asks the coordinator for the outcome,
 * proposes abort there once the intent's deadline has passed, and resolves
 * the intent itself. See docs/scaling.md.
 */

/** A keyspace opened for a caller; `ks` is replaced when the router learns a newer map. */
export interface KeyspaceTarget {
  readonly env: Cloudflare.Env;
  readonly principal: Principal;
  ks: Keyspace;
  /** Runs work the answer need not wait for (the resolves of a decided transaction); awaited in place when absent. */
  readonly defer?: (work: Promise<unknown>) => void;
  /** Where the caller is (Cloudflare's continent code): a transaction's coordinator is the shard led nearest to it. */
  readonly continent?: string;
}

/** Authorise `principal` for `access` on keyspace `name` (a grant names a keyspace as it names a stream), then resolve it. */
export async function openKeyspace(env: Cloudflare.Env, principal: Principal, name: string, access: Access, defer?: (work: Promise<unknown>) => void, continent?: string): Promise<KeyspaceTarget> {
  authorize(principal, { stream: name, access });
  return { env, principal, ks: await resolveKeyspace(env, name), ...(defer ? { defer } : {}), ...(continent !== undefined ? { continent } : {}) };
}

/**
 * The coordinator of a cross-shard transaction: any shard of the keyspace
 * can keep the outcome (it is one decided command in its log), so the one
 * whose leader (as this isolate last saw it) is nearest the caller, the
 * participants first on a tie; without that knowledge, the lowest
 * participant. A near coordinator makes phase 2 one local round.
 */
function pickCoordinator(t: KeyspaceTarget, participants: readonly number[]): number {
  let best = participants[0]!;
  let bestRank = Infinity;
  for (let k = 0; k < t.ks.definition.shards; k++) {
    const nearness = shardClient(t.env, t.ks, k).leaderNearness(t.continent);
    if (nearness === null) continue;
    const rank = 2 * nearness + (participants.includes(k) ? 0 : 1);
    if (rank < bestRank) {
      best = k;
      bestRank = rank;
    }
  }
  return best;
}

/** Attempts of a cross-shard transaction that met conflicts (each with a new id) before it answers `txn_conflict`. */
const TXN_ATTEMPTS = 6;

/** How long a request keeps settling intents and following map corrections before it answers 503. */
function patienceMs(t: KeyspaceTarget): number {
  return 2 * timingWindows(shardStream(t.ks, 0)).requestDeadlineMs;
}

/** The wall-clock deadline written into a transaction's intents: after it, whoever meets one may abort the transaction. */
function intentDeadlineMs(t: KeyspaceTarget): number {
  return Date.now() + timingWindows(shardStream(t.ks, 0)).requestDeadlineMs;
}

function pause(t: KeyspaceTarget, jitter: boolean): Promise<void> {
  const base = shardStream(t.ks, 0).heartbeat_interval_ms;
  return new Promise((resolve) => setTimeout(resolve, jitter ? base * (0.5 + Math.random()) : base));
}

// ---------------------------------------------------------------- routing and correction

/**
 * A shard answered `wrong_shard` with its own map version: assign it the
 * ranges of our map if it is behind ours, else read the map again from the
 * catalog (ours is the stale one).
 */
export async function correct(t: KeyspaceTarget, shard: number, shardVersion: number): Promise<void> {
  if (shardVersion < t.ks.map.version) {
    const client = shardClient(t.env, t.ks, shard);
    const r = await client.write(assignment(t.ks, shard));
    // A hand-off refused while a transaction holds a key that leaves this shard: settle it; the retry assigns again.
    if (r.kind === 'rejected' && r.code === 'locked') await settle(t, client, r.intent);
    return;
  }
  const before = t.ks.map.version;
  t.ks = await resolveKeyspace(t.env, t.ks.name, true);
  if (t.ks.map.version === before && shardVersion === before) {
    throw new Error(`router: shard ${shard} of '${t.ks.name}' refused a key under map version ${before}, which it holds`);
  }
}

/**
 * Shard `shard`'s assignment under the map `ks` routes by: its ranges, those
 * an unfinished grow is still copying in marked incoming (so a router
 * correcting a new shard never makes it serve a range before its keys are
 * there). For a shard that loses ranges it is the hand-off.
 */
export function assignment(ks: Keyspace, shard: number): WriteRequest {
  const incoming = (ks.moving ?? []).filter((m) => m.target === shard).map((m) => ({ from: m.from, to: m.to }));
  return { kind: 'shard-assign', keyspace: ks.name, shard, version: ks.map.version, ranges: rangesOf(ks.map, shard).map((r) => ({ from: r.from, to: r.to })), ...(incoming.length > 0 ? { incoming } : {}) };
}

/**
 * A write of one key, routed and corrected; the shard's result and the
 * shard. `oneShard`: for a transaction, whether its keys still live on one
 * shard after a correction (null is answered when they no longer do).
 */
async function routedWrite(t: KeyspaceTarget, key: string, build: (mapVersion: number) => WriteRequest, oneShard?: () => boolean): Promise<{ result: KvResult; shard: number } | null> {
  const deadline = Date.now() + patienceMs(t);
  let moving = false;
  while (Date.now() < deadline) {
    const shard = shardOfKey(t.ks.map, key);
    const client = shardClient(t.env, t.ks, shard);
    const result = await client.write(withOrigin(build(t.ks.map.version), client, t.continent));
    moving = false;
    if (result.kind === 'rejected' && result.code === 'wrong_shard') {
      await correct(t, shard, result.version);
      if (oneShard && !oneShard()) return null;
      continue;
    }
    if (result.kind === 'rejected' && result.code === 'locked') {
      await settle(t, client, result.intent);
      continue;
    }
    if (result.kind === 'rejected' && result.code === 'moving') {
      moving = true;
      await waitForMove(t);
      continue;
    }
    return { result, shard };
  }
  throw moving ? movingError(t) : busy();
}

/** How long a Worker leaves an unfinished grow to the Worker running it before it drives the grow itself. */
export const GROW_STALL_MS = 30_000;
const nudged = new Map<string, number>();

/**
 * A request met a range a grow is copying: wait a little. If the grow has
 * been running longer than GROW_STALL_MS (its Worker probably died), drive
 * it from here in the background (at most once per GROW_STALL_MS per
 * isolate): every step is idempotent, so two drivers are safe.
 */
async function waitForMove(t: KeyspaceTarget): Promise<void> {
  const started = t.ks.growStartedAt;
  const last = nudged.get(t.ks.name) ?? 0;
  if (t.defer && started !== undefined && Date.now() - started > GROW_STALL_MS && Date.now() - last > GROW_STALL_MS) {
    nudged.set(t.ks.name, Date.now());
    t.defer(resumeGrowHook(t.env, t.ks.name).catch(() => {}));
  }
  await pause(t, true);
}

/** Set by keyspace-grow.ts (which imports this module): resume keyspace `name`'s grow. */
let resumeGrowHook: (env: Cloudflare.Env, name: string) => Promise<unknown> = async () => {};
export function setResumeGrow(hook: (env: Cloudflare.Env, name: string) => Promise<unknown>): void {
  resumeGrowHook = hook;
}

function movingError(t: KeyspaceTarget): ApiError {
  const retryAfterS = Math.max(1, Math.ceil(patienceMs(t) / 1000));
  return new ApiError(
    503,
    'moving',
    `keyspace '${t.ks.name}' is growing and this key's range is being copied to its new shard; nothing was applied: retry after ${retryAfterS} s`,
    { retry_after_s: retryAfterS },
    { 'retry-after': String(retryAfterS) },
  );
}

/** A write with the region it comes from, for a shard under `leaders: follow` (StreamClient.originRegion); unchanged otherwise. */
function withOrigin(request: WriteRequest, client: StreamClient, continent: string | undefined): WriteRequest {
  const origin = client.originRegion(continent);
  if (origin === undefined || (request.kind !== 'put' && request.kind !== 'delete' && request.kind !== 'txn' && request.kind !== 'txn-prepare')) return request;
  return { ...request, origin };
}

type ShardReadCall<T> = (stub: DurableObjectStub<ReplicaObject>, id: ReplicaIdentity, timeoutMs: number) => Promise<ReadOutcome<ShardRead<T>> | RpcError>;

/** A linearizable (or stale) keyspace read at the shard that owns `key`... or, for a list, at `fixedShard`. */
async function routedRead<T>(
  t: KeyspaceTarget,
  shardOf: () => number,
  consistency: 'linearizable' | 'stale',
  continent: string | undefined,
  call: (mapVersion: number, c: 'linearizable' | 'stale') => ShardReadCall<T>,
): Promise<{ value: T; shard: number }> {
  const deadline = Date.now() + patienceMs(t);
  let moving = false;
  while (Date.now() < deadline) {
    const shard = shardOf();
    const client = shardClient(t.env, t.ks, shard);
    const read = call(t.ks.map.version, consistency);
    moving = false;
    const res: ShardRead<T> = consistency === 'stale' ? await client.readStale(continent, (stub, id) => read(stub, id, 0)) : await client.readLinearizable(read);
    if (res.kind === 'wrong_shard') {
      await correct(t, shard, res.version);
      continue;
    }
    if (res.kind === 'intent') {
      // A stale read promises nothing across shards; it still never returns a half-applied transaction's key: it waits like any read.
      await settle(t, client, res.intent);
      continue;
    }
    if (res.kind === 'moving') {
      moving = true;
      await waitForMove(t);
      continue;
    }
    return { value: res.value, shard };
  }
  throw moving ? movingError(t) : busy();
}

function busy(): ApiError {
  return new ApiError(503, 'unavailable', 'the keyspace kept refusing the request (intents of unresolved transactions, or shard map changes) past its deadline; nothing was applied');
}

/**
 * Settle an intent a request met at `participant`: the outcome decided at
 * the transaction's coordinator if there is one; abort, proposed there, if
 * the deadline has passed; otherwise wait a little (its own Worker is
 * probably finishing it). A decided outcome is then resolved here.
 */
export async function settle(t: KeyspaceTarget, participant: StreamClient, intent: IntentView): Promise<void> {
  const coordinator = coordinatorClient(t, intent.coordinator);
  let outcome = await decide(coordinator, intent.txid, null);
  if (outcome === null) {
    if (Date.now() < intent.deadlineMs) {
      await pause(t, true);
      return;
    }
    outcome = await decide(coordinator, intent.txid, 'abort');
  }
  await resolveAt(participant, intent.txid, outcome!);
}

function coordinatorClient(t: KeyspaceTarget, stream: string): StreamClient {
  const m = /_s(\d{4})$/.exec(stream);
  const shard = m ? Number(m[1]) : -1;
  if (shard < 0 || shard >= t.ks.definition.shards) throw new Error(`router: an intent names coordinator '${stream}', no shard of '${t.ks.name}'`);
  return shardClient(t.env, t.ks, shard);
}

/** Propose `outcome` (null: only ask) for `txid` at its coordinator; the outcome recorded there. */
async function decide(coordinator: StreamClient, txid: string, outcome: TxnOutcome | null): Promise<TxnOutcome | null> {
  const r = await coordinator.write({ kind: 'txn-decide', txid, outcome });
  if (r.kind !== 'txn-outcome') throw unexpected(r);
  return r.outcome;
}

async function resolveAt(participant: StreamClient, txid: string, outcome: TxnOutcome): Promise<void> {
  const r = await participant.write({ kind: 'txn-resolve', txid, outcome });
  if (r.kind !== 'txn-resolved') throw unexpected(r);
}

// ---------------------------------------------------------------- key-value

export async function ksPut(t: KeyspaceTarget, key: string, value: string, opts: Omit<PutOptions, 'lease'> = {}): Promise<KeyspacePutResult> {
  checkKey(key);
  authorize(t.principal, { stream: t.ks.name, access: 'write', key });
  checkValueSize(value, maxValueBytes(t.env), 'value');
  const idempotencyKey = opts.idempotencyKey ?? crypto.randomUUID();
  const { result, shard } = (await routedWrite(t, key, (mapVersion) => ({ kind: 'put', key, value, ...(opts.ifRevision !== undefined ? { ifRevision: opts.ifRevision } : {}), idempotencyKey, mapVersion })))!;
  refuseRejected(result);
  if (result.kind !== 'put') throw unexpected(result);
  if (!result.ok) throw new ApiError(409, 'revision_mismatch', `the key's revision is ${result.currentRevision}, not ${opts.ifRevision}`, { current_revision: result.currentRevision, shard });
  return { revision: result.revision, shard };
}

export async function ksGet(t: KeyspaceTarget, key: string, opts: GetOptions & { readonly continent?: string } = {}): Promise<KeyspaceItem | null> {
  checkKey(key);
  authorize(t.principal, { stream: t.ks.name, access: 'read', key });
  const { value, shard } = await routedRead<StoredItem | null>(
    t,
    () => shardOfKey(t.ks.map, key),
    opts.consistency ?? 'linearizable',
    opts.continent,
    (mapVersion, c) => (stub, id, timeoutMs) => stub.shardGet(id, key, mapVersion, c, timeoutMs) as Promise<ReadOutcome<ShardRead<StoredItem | null>> | RpcError>,
  );
  return value ? { key: value.key, value: value.value, revision: value.revision, shard } : null;
}

export async function ksDelete(t: KeyspaceTarget, key: string, opts: DeleteOptions = {}): Promise<KeyspaceDeleteResult> {
  checkKey(key);
  authorize(t.principal, { stream: t.ks.name, access: 'write', key });
  const idempotencyKey = opts.idempotencyKey ?? crypto.randomUUID();
  const { result, shard } = (await routedWrite(t, key, (mapVersion) => ({ kind: 'delete', key, ...(opts.ifRevision !== undefined ? { ifRevision: opts.ifRevision } : {}), idempotencyKey, mapVersion })))!;
  refuseRejected(result, opts.ifRevision);
  if (result.kind !== 'delete') throw unexpected(result);
  return { deleted: result.deleted, revision: result.revision, shard };
}

/**
 * A scatter-gather list: every shard's first page after the cursor, read
 * linearizably and in parallel, merged in key order. Each shard's page is
 * linearizable on its own; the pages are not one snapshot (docs/scaling.md).
 */
export async function ksList(t: KeyspaceTarget, opts: ListOptions & { readonly continent?: string } = {}): Promise<KeyspaceListResult> {
  const prefix = opts.prefix ?? '';
  const limit = opts.limit ?? LIST_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new ApiError(400, 'invalid_request', `limit must be 1 to ${LIST_LIMIT_MAX}`);
  if (opts.cursor !== undefined && opts.startAfter !== undefined) throw new ApiError(400, 'invalid_request', 'give cursor or start_after, not both');
  authorize(t.principal, { stream: t.ks.name, access: 'read', listPrefix: prefix });
  const after = opts.cursor !== undefined ? decodeCursor(opts.cursor) : opts.startAfter;
  const ask = limit + 1;
  const deadline = Date.now() + patienceMs(t);
  let pages: { value: StoredItem[]; shard: number }[];
  for (;;) {
    const version = t.ks.map.version;
    pages = await Promise.all(
      Array.from({ length: t.ks.definition.shards }, (_, i) =>
        routedRead<StoredItem[]>(t, () => i, opts.consistency ?? 'linearizable', opts.continent, (mapVersion, c) => (stub, id, timeoutMs) => stub.shardList(id, prefix, ask, after, mapVersion, c, timeoutMs) as Promise<ReadOutcome<ShardRead<StoredItem[]>> | RpcError>),
      ),
    );
    // A shard corrected the map meanwhile (a grow added shards or moved ranges): pages read under different maps may miss or repeat keys, so read them all again.
    if (t.ks.map.version === version) break;
    if (Date.now() >= deadline) throw busy();
  }
  const merged = pages.flatMap((p) => p.value.map((item) => ({ key: item.key, value: item.value, revision: item.revision, shard: p.shard }))).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const page = merged.slice(0, limit);
  return merged.length > limit ? { items: page, cursor: encodeCursor(page[page.length - 1]!.key) } : { items: page };
}

// ---------------------------------------------------------------- transactions

/** A transaction's compares and operations split by shard, remembering where each operation's result goes. */
interface Split {
  readonly compare: TxnCompare[];
  readonly success: TxnOp[];
  readonly failure: TxnOp[];
}

function keyOf(op: TxnOp): string {
  if ('put' in op) return op.put.key;
  if ('delete' in op) return op.delete.key;
  if ('get' in op) return op.get.key;
  throw new ApiError(400, 'invalid_request', 'a keyspace transaction cannot delete_prefix');
}

/**
 * etcd's Txn in a keyspace. All its keys on one shard: one decided command
 * there (the fast path). On several: two-phase commit, retried with a new
 * transaction id while it meets conflicts, at most TXN_ATTEMPTS times.
 * Every read of a cross-shard transaction holds its key from the prepare to
 * the resolve (a shared intent), so it is serializable, read-only ones too.
 */
export async function ksTxn(t: KeyspaceTarget, request: TxnRequest, opts: { readonly idempotencyKey?: string } = {}): Promise<KeyspaceTxnResult> {
  const core = toCoreTxn(request);
  checkTxn(t.env, t.principal, t.ks.name, core);
  const shape = txnKeys(core.compare, core.success, core.failure);
  if (typeof shape === 'string') throw new ApiError(400, 'invalid_request', shape);
  if (shape.leased) throw new ApiError(400, 'invalid_request', 'keys of a keyspace cannot be attached to a lease');
  const idempotencyKey = opts.idempotencyKey ?? crypto.randomUUID();
  const deadline = Date.now() + patienceMs(t);
  let moving = false;
  for (let attempt = 0; attempt < TXN_ATTEMPTS && Date.now() < deadline; attempt++) {
    const split = splitByShard(t.ks, core);
    if (split.size <= 1) {
      // A correction (a newer map) may spread the keys over several shards: then the attempt starts again, as two-phase commit.
      const ran1 = await routedWrite(t, shape.keys[0] ?? '', (mapVersion) => ({ kind: 'txn', ...core, idempotencyKey, mapVersion }), () => splitByShard(t.ks, core).size <= 1);
      if (ran1 === null) {
        attempt -= 1;
        continue;
      }
      const { result, shard: ran } = ran1;
      refuseRejected(result);
      if (result.kind !== 'txn') throw unexpected(result);
      return { succeeded: result.succeeded, revision: result.revision, shards: [ran], results: result.results.map((r) => withShard(r, ran, true)) };
    }
    const outcome = await twoPhaseCommit(t, core, split, `${idempotencyKey}:${attempt}`);
    if (outcome.kind === 'done') return outcome.result;
    if (outcome.kind === 'remap') continue;
    if (outcome.kind === 'moving') {
      // A participant's range is being copied by a grow: not a conflict, so it does not count as an attempt.
      moving = true;
      attempt -= 1;
      await waitForMove(t);
      continue;
    }
    await pause(t, true); // a conflict: no waiting on the lock, a fresh attempt after a random pause
  }
  if (moving && Date.now() >= deadline) throw movingError(t);
  throw new ApiError(409, 'txn_conflict', `the transaction met other transactions' intents on its keys ${TXN_ATTEMPTS} times (no waiting, so no deadlock); nothing was applied: retry it`);
}

function splitByShard(ks: Keyspace, core: ReturnType<typeof toCoreTxn>): Map<number, Split> {
  const split = new Map<number, Split>();
  const at = (key: string): Split => {
    const shard = shardOfKey(ks.map, key);
    let s = split.get(shard);
    if (!s) split.set(shard, (s = { compare: [], success: [], failure: [] }));
    return s;
  };
  for (const c of core.compare) at(c.key).compare.push(c);
  for (const op of core.success) at(keyOf(op)).success.push(op);
  for (const op of core.failure) at(keyOf(op)).failure.push(op);
  return new Map([...split.entries()].sort(([a], [b]) => a - b));
}

type TwoPhase = { kind: 'done'; result: KeyspaceTxnResult } | { kind: 'conflict' } | { kind: 'remap' } | { kind: 'moving' };

async function twoPhaseCommit(t: KeyspaceTarget, core: ReturnType<typeof toCoreTxn>, split: Map<number, Split>, attemptKey: string): Promise<TwoPhase> {
  const ks = t.ks;
  const participants = [...split.keys()];
  const coordinatorShard = pickCoordinator(t, participants);
  const coordinator = shardClient(t.env, ks, coordinatorShard);
  const coordinatorName = shardStream(ks, coordinatorShard).name;
  const txid = randomTxid();
  const deadlineMs = intentDeadlineMs(t);
  // Phase 1, in parallel. A failed prepare counts as a no vote: the transaction aborts, and whatever it may have locked is settled by whoever meets it.
  const votes = await Promise.all(
    participants.map(async (shard): Promise<KvResult | ApiError> => {
      const s = split.get(shard)!;
      try {
        const client = shardClient(t.env, ks, shard);
        return await client.write(withOrigin({
          kind: 'txn-prepare',
          txid,
          coordinator: coordinatorName,
          deadlineMs,
          mapVersion: ks.map.version,
          compare: s.compare,
          success: s.success,
          failure: s.failure,
          idempotencyKey: `${attemptKey}:${shard}`,
        }, client, t.continent));
      } catch (e) {
        if (e instanceof ApiError) return e;
        throw e;
      }
    }),
  );
  const decided = outcomeOf(votes.map((v) => (v instanceof ApiError ? null : v)));
  if (decided !== 'abort') {
    const yesVotes = votes as Extract<TxnVote, { vote: 'yes' }>[];
    const succeeded = decided === 'commit-success';
    let outcome: TxnOutcome | null;
    try {
      // Phase 2: the commit point is this decision in the coordinator's log.
      outcome = await decide(coordinator, txid, decided);
    } catch (e) {
      if (e instanceof ApiError && e.status === 503) {
        throw new ApiError(503, 'outcome_unknown', `the coordinator shard of transaction ${txid} could not be reached to decide it; it may or may not commit (the first request that meets one of its keys settles it): read the keys to know`, { txid });
      }
      throw e;
    }
    finish(t, participants, txid, outcome!, coordinator);
    if (outcome === 'abort') return { kind: 'conflict' }; // a request that met an intent past its deadline aborted it first
    const byShard = new Map(participants.map((p, i) => [p, yesVotes[i]!]));
    const branch = succeeded ? core.success : core.failure;
    const seen = new Map<number, number>();
    const results = branch.map((op) => {
      const shard = shardOfKey(ks.map, keyOf(op));
      const n = seen.get(shard) ?? 0;
      seen.set(shard, n + 1);
      const vote = byShard.get(shard)!;
      return withShard((succeeded ? vote.success : vote.failure)[n]!, shard, false);
    });
    return { kind: 'done', result: { succeeded, shards: participants, results, txid } };
  }
  // Some participant voted no, refused, or did not answer: abort, decided at the coordinator before any intent is dropped.
  let outcome: TxnOutcome | null = 'abort';
  try {
    outcome = await decide(coordinator, txid, 'abort');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 503)) throw e;
    // Nobody but this Worker proposes commit, so the transaction can only abort: its intents are settled by whoever meets them.
    outcome = null;
  }
  if (outcome !== null) finish(t, participants, txid, outcome, coordinator);
  for (const [i, v] of votes.entries()) {
    if (v instanceof ApiError) throw v.status === 503 ? new ApiError(503, 'unavailable', `shard ${participants[i]} could not prepare the transaction (${v.message}); it was aborted, nothing was applied`) : v;
    if (v.kind === 'rejected' && v.code === 'wrong_shard') {
      await correct(t, participants[i]!, v.version);
      return { kind: 'remap' };
    }
    if (v.kind === 'rejected' && v.code === 'moving') return { kind: 'moving' };
  }
  for (const v of votes) if (!(v instanceof ApiError)) refuseRejected(v);
  for (const [i, v] of votes.entries()) {
    if (!(v instanceof ApiError) && v.kind === 'txn-vote' && v.vote === 'no' && v.holder !== null && Date.now() >= v.holder.deadlineMs) {
      // The conflicting transaction is past its deadline: settle it, so the next attempt finds the key free.
      await settle(t, shardClient(t.env, ks, participants[i]!), v.holder);
    }
  }
  return { kind: 'conflict' };
}

/**
 * Resolve a decided transaction at every participant, then let the
 * coordinator forget its outcome (only once every participant resolved:
 * an intent left behind still needs the outcome to be settled).
 */
function finish(t: KeyspaceTarget, participants: readonly number[], txid: string, outcome: TxnOutcome, coordinator: StreamClient): void {
  const work = (async () => {
    await Promise.all(participants.map((p) => resolveAt(shardClient(t.env, t.ks, p), txid, outcome)));
    await coordinator.write({ kind: 'txn-forget', txid });
  })().catch(() => {
    // A resolve that did not get through leaves an intent that the next request to meet it settles.
  });
  if (t.defer) t.defer(work);
}

function withShard(r: TxnOpResult, shard: number, revisionKnown: boolean): KeyspaceTxnOpResult {
  switch (r.kind) {
    case 'put':
      return revisionKnown ? { shard, revision: r.revision } : { shard };
    case 'delete':
      return { shard, deleted: r.deleted };
    case 'get':
      return r.item ? { shard, key: r.key, value: r.item.value, revision: r.item.revision, create_revision: r.item.createRevision } : { shard, key: r.key, found: false };
  }
}

function randomTxid(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------- status

/** Every shard's stream, its leader (as its replicas report) and commit index. */
export async function ksStatus(t: KeyspaceTarget): Promise<KeyspaceStatus> {
  authorize(t.principal, { stream: t.ks.name, access: 'read' });
  const shards = await Promise.all(
    Array.from({ length: t.ks.definition.shards }, async (_, shard) => {
      const client = shardClient(t.env, t.ks, shard);
      const views = await client.views(1000);
      const leader = pickLeader(views);
      const leaderView = views.find((v) => v.id === leader)?.view ?? null;
      return {
        shard,
        stream: client.stream.name,
        leader_id: leader,
        leader_region: leader === null ? null : (client.members().find((m) => m.id === leader)?.region ?? null),
        commit_index: leaderView?.commit_index ?? null,
        healthy: leader !== null,
        ...(leaderView?.follow ? { followed_region: leaderView.follow.preferred_region, window_writes: leaderView.follow.window_writes } : {}),
      };
    }),
  );
  return { name: t.ks.name, map_version: t.ks.map.version, shards };
}
