import type { KvItem, KvResult } from '../kv/index.ts';
import type { ClusterStatus, StreamOverview, StreamStatus } from '../client/types.ts';
import { type VisibleStream, resolveStream, visibleStreams } from './catalog.ts';
import { ApiError } from './errors.ts';
import { type Access, type Principal, authorize } from './grants.ts';
import { streamStatus } from './status.ts';
import type { StreamClient } from './stream-client.ts';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, checkKey, checkValueSize, maxValueBytes } from './validation.ts';

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
  readonly idempotencyKey?: string;
}

export async function put(t: Target, key: string, value: string, opts: PutOptions = {}): Promise<{ revision: number }> {
  checkKey(key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  checkValueSize(value, maxValueBytes(t.env), 'value');
  const result = await t.client.write({
    kind: 'put',
    key,
    value,
    ...(opts.ifRevision !== undefined ? { ifRevision: opts.ifRevision } : {}),
    idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID(),
  });
  refuseReusedKey(result);
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

export async function del(t: Target, key: string, opts: { readonly idempotencyKey?: string } = {}): Promise<{ deleted: boolean; revision: number }> {
  checkKey(key);
  authorize(t.principal, { stream: t.client.stream.name, access: 'write', key });
  refuseSystemWrite(t.client);
  const result = await t.client.write({ kind: 'delete', key, idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID() });
  refuseReusedKey(result);
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
  const items: KvItem[] =
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
  refuseReusedKey(result);
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
function refuseSystemWrite(client: StreamClient): void {
  if (client.placement.kind === 'system') {
    throw new ApiError(403, 'reserved_stream', `stream '${client.stream.name}' is edgepaxos's stream catalog; create and delete streams with POST /v1/streams and DELETE /v1/streams/{name}`);
  }
}

/** An Idempotency-Key already used for a different request: 422, and nothing was applied. */
function refuseReusedKey(result: KvResult): void {
  if (result.kind === 'rejected') {
    throw new ApiError(422, 'idempotency_key_reused', `this Idempotency-Key was first used for a different request (at slot ${result.firstSlot}); nothing was applied`, {
      first_slot: result.firstSlot,
    });
  }
}

function unexpected(result: KvResult): Error {
  return new Error(`unexpected result for this request: ${JSON.stringify(result)}`);
}

const CURSOR_VERSION = 'k1.';

/** An opaque continuation: the last key of a page, versioned and base64url-encoded. */
function encodeCursor(lastKey: string): string {
  const bytes = new TextEncoder().encode(lastKey);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return CURSOR_VERSION + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeCursor(cursor: string): string {
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
