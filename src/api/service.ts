import type { TxnCompare as CoreCompare, TxnOp as CoreOp } from '../core/index.ts';
import { type KvItem as StoredItem, type KvResult, LEASE_TTL_MAX_MS, LEASE_TTL_MIN_MS, TXN_COMPARES_MAX, TXN_OPS_MAX, TXN_READ_BYTES_MAX, txnProblem } from '../kv/index.ts';
import type { ClusterStatus, KvItem, LeaseGrantResult, LeaseInfo, LeaseKeepAliveResult, LeaseRevokeResult, StreamOverview, StreamStatus, TxnOpResult, TxnRequest, TxnResult, WatchOptions } from '../client/types.ts';
import type { DcfMember as Member } from '../host/dcf.ts';
import { isRpcError } from '../host/replica-object.ts';
import { parseShardName } from '../host/config.ts';
import { type VisibleStream, resolveStream, visibleStreams } from './catalog.ts';
import { ApiError } from './errors.ts';
import { type Access, type Principal, authorize, keyPrefixesOf } from './grants.ts';
import { streamStatus } from './status.ts';
import type { StreamClient } from './stream-client.ts';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, byteLength, checkKey, checkValueSize, maxValueBytes } from './validation.ts';

/**
 * The data operations, one code path behind the HTTP routes and the RPC
 * methods of the EdgePaxos entrypoint: each takes a stream opened for a caller
 * (authorised by name, resolved), checks what depends on its arguments (keys
 * and list prefixes against the caller's grants, sizes), then routes to the
 * leader with the stream client's retries. Errors are ApiErrors; the HTTP side
 * turns them into `{"error":{...}}`, the RPC side into EdgePaxosError.
 *
 * New operations (transactions, leases, watches) join here, so that each has
 * an HTTP route and an RPC twin over the same code.
 */

/** A stream opened for a caller. */
export interface Target {
  readonly env: Cloudflare.Env;
  readonly principal: Principal;
  readonly client: StreamClient;
}

export type ConsistencyLevel = 'linearizable' | 'stale';

/** Authorise `principal` for `access` on stream `name` (before anything is looked up), then resolve it. */
export async function openStream(env: Cloudflare.Env, principal: Principal, name: string, access: Access): Promise<Target> {
  authorize(principal, { stream: name, access });
  return { env, principal, client: await resolveStream(env, name) };
}

export interface PutOptions {
  readonly ifRevision?: number;
  /** Attach the key to this lease (deleted when it ends). */
  readonly lease?: string;
  readonly idempotencyKey?: string;
}

export async function put(t: Target, key: string, value: string, opts: PutOptions = {}): Promise<{ revision: number }> {
  checkKey(key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  checkValueSize(value, maxValueBytes(t.env), 'value');
  if (opts.lease !== undefined) checkLeaseId(opts.lease);
  const result = await t.client.write({
    kind: 'put',
    key,
    value,
    ...(opts.ifRevision !== undefined ? { ifRevision: opts.ifRevision } : {}),
    ...(opts.lease !== undefined ? { lease: opts.lease } : {}),
    idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID(),
  });
  refuseRejected(result);
  if (result.kind !== 'put') throw unexpected(result);
  if (!result.ok) {
    throw new ApiError(409, 'revision_mismatch', `the key's revision is ${result.currentRevision}, not ${opts.ifRevision}`, { current_revision: result.currentRevision });
  }
  return { revision: result.revision };
}

export interface GetOptions {
  readonly consistency?: ConsistencyLevel;
  /** Where the caller is (Cloudflare's continent code), to pick the nearest replica for a stale read. */
  readonly continent?: string;
}

/** The key's item, or null when absent. */
export async function get(t: Target, key: string, opts: GetOptions = {}): Promise<KvItem | null> {
  checkKey(key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'read', key });
  const item =
    opts.consistency === 'stale'
      ? await t.client.readStale(opts.continent, (stub, id) => stub.get(id, key, 'stale', 0))
      : await t.client.readLinearizable((stub, id, timeoutMs) => stub.get(id, key, 'linearizable', timeoutMs));
  return item ? { key: item.key, value: item.value, revision: item.revision } : null;
}

export interface DeleteOptions {
  /** Compare-and-delete: only if the key's revision is this. */
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
}

export async function del(t: Target, key: string, opts: DeleteOptions = {}): Promise<{ deleted: boolean; revision: number }> {
  checkKey(key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  const result = await t.client.write({
    kind: 'delete',
    key,
    ...(opts.ifRevision !== undefined ? { ifRevision: opts.ifRevision } : {}),
    idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID(),
  });
  refuseRejected(result, opts.ifRevision);
  if (result.kind !== 'delete') throw unexpected(result);
  return { deleted: result.deleted, revision: result.revision };
}

export interface ListOptions {
  readonly prefix?: string;
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
  /** Only keys after this one (an alternative to `cursor`). */
  readonly startAfter?: string;
  readonly consistency?: ConsistencyLevel;
  readonly continent?: string;
}


/** Keys under `prefix` in key order; `cursor` is present when more may follow. */
export async function list(t: Target, opts: ListOptions = {}): Promise<{ items: KvItem[]; cursor?: string }> {
  const prefix = opts.prefix ?? '';
  const limit = opts.limit ?? LIST_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new ApiError(400, 'invalid_request', `limit must be 1 to ${LIST_LIMIT_MAX}`);
  if (opts.cursor !== undefined && opts.startAfter !== undefined) throw new ApiError(400, 'invalid_request', 'give cursor or start_after, not both');
  authorize(t.principal, { stream: t.client.stream.name, access: 'read', listPrefix: prefix });
  const after = opts.cursor !== undefined ? decodeCursor(opts.cursor) : opts.startAfter;
  // One more than asked, to know whether another page follows.
  const ask = limit + 1;
  const items: StoredItem[] =
    opts.consistency === 'stale'
      ? await t.client.readStale(opts.continent, (stub, id) => stub.list(id, prefix, ask, 'stale', 0, after))
      : await t.client.readLinearizable((stub, id, timeoutMs) => stub.list(id, prefix, ask, 'linearizable', timeoutMs, after));
  const page = items.slice(0, limit).map((i) => ({ key: i.key, value: i.value, revision: i.revision }));
  return items.length > limit ? { items: page, cursor: encodeCursor(page[page.length - 1]!.key) } : { items: page };
}

export async function append(t: Target, data: string, opts: { readonly idempotencyKey?: string } = {}): Promise<{ index: number }> {
  authorize(t.principal, { stream: t.client.stream.name, access: 'write' });
  refuseSystemWrite(t.client);
  checkValueSize(data, maxValueBytes(t.env), 'data');
  const result = await t.client.write({ kind: 'opaque', data, idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID() });
  refuseRejected(result);
  if (result.kind !== 'opaque') throw unexpected(result);
  return { index: result.index };
}

export interface ReadOptions {
  readonly from?: number;
  readonly limit?: number;
}

/** Appended records from slot `from` on; `410 compacted` when that slot was truncated. */
export async function read(t: Target, opts: ReadOptions = {}): Promise<{ entries: { index: number; data: string }[] }> {
  const from = opts.from ?? 1;
  const limit = opts.limit ?? LIST_LIMIT_DEFAULT;
  if (!Number.isSafeInteger(from) || from < 1) throw new ApiError(400, 'invalid_request', 'from must be a slot, 1 or more');
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new ApiError(400, 'invalid_request', `limit must be 1 to ${LIST_LIMIT_MAX}`);
  authorize(t.principal, { stream: t.client.stream.name, access: 'read' });
  const res = await t.client.readLinearizable((stub, id, timeoutMs) => stub.readLog(id, from, limit, timeoutMs));
  if (res.kind === 'compacted') {
    throw new ApiError(410, 'compacted', `slots before ${res.firstIndex} were truncated (snapshotted and dropped from the log); read from ${res.firstIndex}`, {
      first_index: res.firstIndex,
    });
  }
  return { entries: res.records };
}

export async function status(t: Target): Promise<Awaited<ReturnType<typeof streamStatus>>> {
  authorize(t.principal, { stream: t.client.stream.name, access: 'read' });
  return streamStatus(t.client);
}

/**
 * The status of every stream `principal` may read, asked in parallel. A
 * stream whose status cannot be had (deleted meanwhile) carries the error
 * instead; one being deleted is not asked.
 */
export async function statusAll(env: Cloudflare.Env, principal: Principal): Promise<ClusterStatus> {
  const { streams, catalogError } = await visibleStreams(env, principal);
  return statusOf(streams, catalogError);
}

/** The status of each of `streams` (as `visibleStreams` listed them), asked in parallel. */
export async function statusOf(streams: readonly VisibleStream[], catalogError: string | null): Promise<ClusterStatus> {
  const overviews = await Promise.all(
    streams.map(async (s): Promise<StreamOverview> => {
      const base = { name: s.name, kind: s.kind, state: s.entry?.state ?? 'active' };
      if (!s.client) return { ...base, status: null, error: null };
      try {
        return { ...base, status: (await streamStatus(s.client)) as StreamStatus, error: null };
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        return { ...base, status: null, error: { code: e.code, message: e.message } };
      }
    }),
  );
  return { streams: overviews, catalog_error: catalogError };
}

/** The catalog is written only through the stream endpoints (compare-and-set on its entries); it can be read and operated. */
export function refuseSystemWrite(client: StreamClient): void {
  const shard = parseShardName(client.stream.name);
  if (shard) {
    // A shard's keys are written through its keyspace, which routes, locks and resolves them; its stream is read and operated as any other.
    throw new ApiError(403, 'reserved_stream', `stream '${client.stream.name}' is shard ${shard.shard} of keyspace '${shard.keyspace}'; write its keys through /v1/keyspaces/${shard.keyspace}`);
  }
  if (client.placement.kind === 'system') {
    throw new ApiError(403, 'reserved_stream', `stream '${client.stream.name}' is edgepaxos's stream catalog; create and delete streams with POST /v1/streams and DELETE /v1/streams/{name}`);
  }
}

/** A command the state machine refused, applying nothing: the error that says why. */
export function refuseRejected(result: KvResult, expectedRevision?: number): void {
  if (result.kind !== 'rejected') return;
  switch (result.code) {
    case 'idempotency_key_reused':
      throw new ApiError(422, 'idempotency_key_reused', `this Idempotency-Key was first used for a different request (at slot ${result.firstSlot}); nothing was applied`, {
        first_slot: result.firstSlot,
      });
    case 'revision_mismatch':
      throw new ApiError(409, 'revision_mismatch', `the key's revision is ${result.currentRevision}, not ${expectedRevision}`, { current_revision: result.currentRevision });
    case 'lease_not_found':
      throw leaseNotFound(result.lease);
    case 'forbidden':
      throw new ApiError(403, 'forbidden', `lease ${result.lease} holds key '${result.key}', which is outside this token's write grant; nothing was applied`);
    case 'txn_too_large':
      throw new ApiError(413, 'txn_too_large', `the transaction's gets would read ${result.readBytes} characters of keys and values, over ${TXN_READ_BYTES_MAX}; nothing was applied`);
    case 'invalid_command':
      throw new ApiError(400, 'invalid_request', result.message);
  }
}

export function leaseNotFound(id: string): ApiError {
  return new ApiError(404, 'lease_not_found', `no lease '${id}' (never granted, or it expired or was revoked)`, { lease: id });
}

/** Lease ids are what a grant answered: 16 hex digits. */
export function checkLeaseId(id: string): void {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new ApiError(400, 'invalid_request', `'${id}' is not a lease id (16 hex digits, as a grant answers)`);
}

// ---------------------------------------------------------------- transactions

/** A transaction as the API takes it (the client's TxnRequest, validated by the route's or the RPC method's schema). */
export function toCoreTxn(request: TxnRequest): { compare: CoreCompare[]; success: CoreOp[]; failure: CoreOp[] } {
  const op = (o: TxnRequest['success'] extends readonly (infer X)[] | undefined ? X : never): CoreOp => {
    if ('put' in o) {
      const { key, value, lease, ignore_lease } = o.put;
      return { put: { key, value, ...(lease !== undefined ? { lease } : {}), ...(ignore_lease ? { ignoreLease: true } : {}) } };
    }
    if ('delete' in o) return { delete: { key: o.delete.key } };
    if ('delete_prefix' in o) return { deletePrefix: { prefix: o.delete_prefix.prefix } };
    return { get: { key: o.get.key } };
  };
  return {
    compare: (request.compare ?? []).map((c) => ({ key: c.key, target: c.target, op: c.op, value: c.value })),
    success: (request.success ?? []).map(op),
    failure: (request.failure ?? []).map(op),
  };
}

/**
 * etcd's Txn as one decided command. Checked here, once (checkTxn): the limits, every
 * key (and its grant: compares and gets need read, puts and deletes write,
 * a delete_prefix write on its whole prefix), the values' sizes (all of
 * them together within the value limit) and the structural rules
 * (txnProblem); the state machine refuses only what depends on the state
 * then (an unknown lease, too much read).
 */
/**
 * The checks of a transaction that depend only on the request: the limits,
 * every key (and its grant under `grantName`: compares and gets need read,
 * puts and deletes write, a delete_prefix write on its whole prefix), the
 * values' sizes and the structural rules. Whether it writes anything.
 */
export function checkTxn(env: Cloudflare.Env, principal: Principal, grantName: string, core: ReturnType<typeof toCoreTxn>): boolean {
  const stream = grantName;
  if (core.compare.length > TXN_COMPARES_MAX) throw new ApiError(400, 'invalid_request', `a transaction has at most ${TXN_COMPARES_MAX} compares`);
  if (core.success.length + core.failure.length > TXN_OPS_MAX) throw new ApiError(400, 'invalid_request', `a transaction has at most ${TXN_OPS_MAX} operations (success and failure together)`);
  let bytes = 0;
  for (const c of core.compare) {
    checkKey(c.key);
    authorize(principal, { stream, access: 'read', key: c.key });
    if (typeof c.value === 'string') bytes += byteLength(c.value);
  }
  let writes = false;
  for (const o of [...core.success, ...core.failure]) {
    if ('put' in o) {
      checkKey(o.put.key);
      authorize(principal, { stream, access: 'write', key: o.put.key });
      if (o.put.lease !== undefined) checkLeaseId(o.put.lease);
      bytes += byteLength(o.put.value);
      writes = true;
    } else if ('delete' in o) {
      checkKey(o.delete.key);
      authorize(principal, { stream, access: 'write', key: o.delete.key });
      writes = true;
    } else if ('deletePrefix' in o) {
      if (byteLength(o.deletePrefix.prefix) > 1024) throw new ApiError(400, 'invalid_key', 'a delete_prefix prefix is at most 1024 bytes');
      authorize(principal, { stream, access: 'write', listPrefix: o.deletePrefix.prefix });
      writes = true;
    } else {
      checkKey(o.get.key);
      authorize(principal, { stream, access: 'read', key: o.get.key });
    }
  }
  const max = maxValueBytes(env);
  if (bytes > max) throw new ApiError(413, 'value_too_large', `the transaction's values are ${bytes} bytes together; the limit is ${max} bytes`);
  const problem = txnProblem(core.compare, core.success, core.failure);
  if (problem !== null) throw new ApiError(400, 'invalid_request', problem);
  return writes;
}

export async function txn(t: Target, request: TxnRequest, opts: { readonly idempotencyKey?: string } = {}): Promise<TxnResult> {
  const core = toCoreTxn(request);
  const writes = checkTxn(t.env, t.principal, t.client.stream.name, core);
  if (writes) refuseSystemWrite(t.client);
  const result = await t.client.write({ kind: 'txn', ...core, idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID() });
  refuseRejected(result);
  if (result.kind !== 'txn') throw unexpected(result);
  return { succeeded: result.succeeded, revision: result.revision, results: result.results.map(toTxnOpResult) };
}

function toTxnOpResult(r: import('../kv/index.ts').TxnOpResult): TxnOpResult {
  switch (r.kind) {
    case 'put':
      return { revision: r.revision };
    case 'delete':
      return { deleted: r.deleted };
    case 'get':
      return r.item ? { key: r.key, value: r.item.value, revision: r.item.revision, create_revision: r.item.createRevision } : { key: r.key, found: false };
  }
}

// ---------------------------------------------------------------- leases

export async function leaseGrant(t: Target, ttlMs: number, opts: { readonly idempotencyKey?: string } = {}): Promise<LeaseGrantResult> {
  authorize(t.principal, { stream: t.client.stream.name, access: 'write' });
  refuseSystemWrite(t.client);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < LEASE_TTL_MIN_MS || ttlMs > LEASE_TTL_MAX_MS) {
    throw new ApiError(400, 'invalid_request', `ttl_ms must be ${LEASE_TTL_MIN_MS} to ${LEASE_TTL_MAX_MS}`);
  }
  const result = await t.client.write({ kind: 'lease-grant', ttlMs, idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID() });
  refuseRejected(result);
  if (result.kind !== 'lease') throw unexpected(result);
  return { id: result.lease, ttl_ms: result.ttlMs };
}

/**
 * Keep a lease alive. No idempotency key: applying a keep-alive twice is
 * harmless, and a retry must not be answered with an earlier attempt's result
 * (the client relies on the lease from the time it sent this request).
 */
export async function leaseKeepAlive(t: Target, id: string): Promise<LeaseKeepAliveResult> {
  const stream = t.client.stream.name;
  authorize(t.principal, { stream, access: 'write' });
  refuseSystemWrite(t.client);
  checkLeaseId(id);
  const prefixes = keyPrefixesOf(t.principal, stream, 'write');
  const result = await t.client.write({ kind: 'lease-keepalive', lease: id, ...(prefixes ? { keyPrefixes: prefixes } : {}) });
  refuseRejected(result);
  if (result.kind !== 'lease') throw unexpected(result);
  return { id: result.lease, ttl_ms: result.ttlMs };
}

/** A lease through the leader: its TTL, the leader's estimate of the time left, and the attached keys the caller may read. */
export async function leaseGet(t: Target, id: string): Promise<LeaseInfo> {
  const stream = t.client.stream.name;
  authorize(t.principal, { stream, access: 'read' });
  checkLeaseId(id);
  const view = await t.client.readLinearizable((stub, rid, timeoutMs) => stub.lease(rid, id, timeoutMs));
  if (!view) throw leaseNotFound(id);
  const prefixes = keyPrefixesOf(t.principal, stream, 'read');
  const keys = prefixes === null ? view.lease.keys : view.lease.keys.filter((k) => prefixes.some((p) => k.startsWith(p)));
  return { id, ttl_ms: view.lease.ttlMs, remaining_ms: view.remainingMs, keys: [...keys] };
}

export async function leaseRevoke(t: Target, id: string, opts: { readonly idempotencyKey?: string } = {}): Promise<LeaseRevokeResult> {
  const stream = t.client.stream.name;
  authorize(t.principal, { stream, access: 'write' });
  refuseSystemWrite(t.client);
  checkLeaseId(id);
  const prefixes = keyPrefixesOf(t.principal, stream, 'write');
  const result = await t.client.write({ kind: 'lease-revoke', lease: id, ...(prefixes ? { keyPrefixes: prefixes } : {}), idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID() });
  refuseRejected(result);
  if (result.kind !== 'lease-ended') throw unexpected(result);
  return { revoked: true, keys: [...result.keys], revision: result.revision };
}

// ---------------------------------------------------------------- watches

export const WATCH_MAX_DURATION_MS = 300_000;
export const WATCH_PROGRESS_MS = 10_000;
/** A watcher whose reader falls this far behind is cut off (it reconnects from where it was). */
export const WATCH_QUEUE_BYTES_MAX = 4 * 1024 * 1024;

/**
 * A watch: the SSE byte stream of one replica. Replicas are asked in this
 * order: followers, nearest first, then the leader (a follower that follows
 * a leader is current enough, and the leader's single thread is spared);
 * one that does not know it is current (no leader) declines, and if every
 * replica declines, the first that answers is used anyway.
 */
export async function watch(t: Target, opts: WatchOptions & { readonly continent?: string }): Promise<ReadableStream<Uint8Array>> {
  const stream = t.client.stream.name;
  if ((opts.key === undefined) === (opts.prefix === undefined)) throw new ApiError(400, 'invalid_request', 'give key or prefix (one of them)');
  if (opts.key !== undefined) {
    checkKey(opts.key);
    authorize(t.principal, { stream, access: 'read', key: opts.key });
  } else {
    if (byteLength(opts.prefix!) > 1024) throw new ApiError(400, 'invalid_key', 'a prefix is at most 1024 bytes');
    authorize(t.principal, { stream, access: 'read', listPrefix: opts.prefix! });
  }
  const maxDurationMs = opts.maxDurationMs ?? WATCH_MAX_DURATION_MS;
  const progressMs = opts.progressMs ?? WATCH_PROGRESS_MS;
  if (!Number.isInteger(maxDurationMs) || maxDurationMs < 1000 || maxDurationMs > WATCH_MAX_DURATION_MS) throw new ApiError(400, 'invalid_request', `max_duration_ms must be 1000 to ${WATCH_MAX_DURATION_MS}`);
  if (!Number.isInteger(progressMs) || progressMs < 1000 || progressMs > 60_000) throw new ApiError(400, 'invalid_request', 'progress_ms must be 1000 to 60000');
  if (opts.fromRevision !== undefined && (!Number.isSafeInteger(opts.fromRevision) || opts.fromRevision < 1)) throw new ApiError(400, 'invalid_request', 'from_revision must be 1 or more');
  const filter = opts.key !== undefined ? { key: opts.key } : { prefix: opts.prefix! };
  return openReplicaWatch(t.client, filter, opts.fromRevision, { maxDurationMs, progressMs }, opts.continent);
}

/**
 * A watch at one replica of `client`'s stream (validated and authorised by
 * the caller): current followers by nearness first, then the leader, then
 * any replica that keeps data (`force`). 410 `compacted` when the revisions
 * asked for are gone, 503 when no replica took it.
 */
export async function openReplicaWatch(
  client: StreamClient,
  filter: { readonly key: string } | { readonly prefix: string },
  fromRevision: number | undefined,
  timing: { readonly maxDurationMs: number; readonly progressMs: number },
  continent: string | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const order = watchOrder(client, continent);
  for (const force of [false, true]) {
    for (const id of order) {
      const res = await client
        .stub(id)
        .watch(client.identity(id), filter, fromRevision, { ...timing, queueBytesMax: WATCH_QUEUE_BYTES_MAX, force })
        .catch(() => null);
      if (res === null) continue;
      if (isRpcError(res)) {
        if (res.code === 'down') continue;
        throw client.failure(res);
      }
      if (res.kind === 'ok') return res.stream;
      if (res.kind === 'compacted') {
        throw new ApiError(410, 'compacted', `revisions before ${res.firstRevision} are no longer in the watch history; read the current state and watch from its revision + 1`, {
          first_revision: res.firstRevision,
        });
      }
    }
  }
  throw new ApiError(503, 'unavailable', 'no replica could take the watch');
}

/** Data replicas for a watch: followers by nearness, then whichever the isolate last saw leading. */
function watchOrder(client: StreamClient, continent: string | undefined): number[] {
  const data = client.nearest(continent).filter((m: Member) => m.role !== 'logger');
  const leader = client.cachedLeader();
  const ids = data.map((m) => m.id);
  return leader === null ? ids : [...ids.filter((id) => id !== leader), ...ids.filter((id) => id === leader)];
}

export function unexpected(result: KvResult): Error {
  return new Error(`unexpected result for this request: ${JSON.stringify(result)}`);
}

const CURSOR_VERSION = 'k1.';

/** An opaque continuation: the last key of a page, versioned and base64url-encoded. */
export function encodeCursor(lastKey: string): string {
  const bytes = new TextEncoder().encode(lastKey);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return CURSOR_VERSION + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeCursor(cursor: string): string {
  const bad = new ApiError(400, 'invalid_request', 'cursor: not a cursor this API returned');
  if (!cursor.startsWith(CURSOR_VERSION)) throw bad;
  const body = cursor.slice(CURSOR_VERSION.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw bad;
  try {
    const bin = atob(body.replace(/-/g, '+').replace(/_/g, '/'));
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
  } catch {
    throw bad;
  }
}
