import { z } from 'zod';
import type { KvItem } from '../kv/index.ts';
import { CATALOG_STREAM, type StreamConfig, catalogStream, clusterConfig, findStream, parseShardName, parseStreamDefinition } from '../host/config.ts';
import { resolveShardStream } from './keyspace-catalog.ts';
import { ApiError } from './errors.ts';
import { type Principal, authorize, mayRead } from './grants.ts';
import { StreamClient } from './stream-client.ts';

/**
 * The stream catalog: streams created at run time are recorded in the
 * replicated system stream `_catalog` as KV keys `streams/<name>`, so the
 * catalog is exactly as durable as the data (RPO = 0 across a region loss,
 * under the catalog's own policy). Every change is a compare-and-set on the
 * key's revision, so two concurrent requests can never both win.
 *
 * An entry's life: absent → `active` (create) → `deleting` (delete, step 1:
 * from then on the stream answers 404) → `deleted` (delete, step 2: every
 * replica confirmed its wipe) → `active` again with a new incarnation (a
 * create of the same name). A `deleted` entry keeps the key, so a recreate is
 * a compare-and-set against it like any other change.
 */

const KEY_PREFIX = 'streams/';
/** How long a Worker isolate trusts a catalog entry it read; a miss is always read again. */
export const CATALOG_CACHE_TTL_MS = 30_000;
/** The most catalog entries `GET /v1/streams` reads (deleted names count too). */
const LIST_MAX = 10_000;

/** `restoring`: created by a restore whose replicas do not all hold the snapshot yet (it answers 503 until they do). */
export type CatalogState = 'active' | 'restoring' | 'deleting' | 'deleted';

/** One stream created at run time, as the catalog records it. */
export interface CatalogEntry {
  readonly state: CatalogState;
  /** Part of the replicas' Durable Object names: a recreated stream never meets the old one's data. */
  readonly incarnation: string;
  readonly created_at: string;
  /** Absent once the stream is deleted. */
  readonly definition?: StreamConfig;
  readonly deleted_at?: string;
}

/** An entry with the catalog revision it was read at (the slot that wrote it). */
export interface VersionedEntry {
  readonly name: string;
  readonly entry: CatalogEntry;
  readonly revision: number;
}

const EntrySchema = z
  .object({
    state: z.enum(['active', 'restoring', 'deleting', 'deleted']),
    incarnation: z.string().regex(/^[0-9a-f]{1,64}$/),
    created_at: z.string(),
    definition: z.unknown().optional(),
    deleted_at: z.string().optional(),
  })
  .strict();

const cache = new Map<string, { readonly entry: VersionedEntry; readonly readAt: number }>();

/** The client of the catalog stream itself. */
export function catalogClient(env: Cloudflare.Env): StreamClient {
  return new StreamClient(env, catalogStream(clusterConfig(env.EDGEPAXOS_CONFIG)), { kind: 'system' });
}

/** A new incarnation id: 48 random bits in hex. */
export function newIncarnation(): string {
  return [...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Forget what this isolate cached about `name` (it was deleted or changed). */
export function forgetEntry(name: string): void {
  cache.delete(name);
}

/**
 * The active entry for `name`: from this isolate's cache while it is fresh,
 * otherwise (and always on a miss) a linearizable read of the catalog, so a
 * stream created a moment ago through another Worker is found at once.
 */
export async function activeEntry(env: Cloudflare.Env, name: string): Promise<VersionedEntry | null> {
  const hit = cache.get(name);
  if (hit && Date.now() - hit.readAt < CATALOG_CACHE_TTL_MS) return hit.entry;
  const read = await readEntry(env, name);
  if (read && read.entry.state === 'active') {
    cache.set(name, { entry: read, readAt: Date.now() });
    return read;
  }
  cache.delete(name);
  if (read && read.entry.state === 'restoring') {
    throw new ApiError(503, 'restoring', `stream '${name}' is being restored from a snapshot and not every replica holds it yet: repeat POST /v1/streams/${name}/restore with the same snapshot to finish`);
  }
  return null;
}

/** The catalog's entry for `name` in any state, read linearizably; null if it never existed. */
export async function readEntry(env: Cloudflare.Env, name: string): Promise<VersionedEntry | null> {
  const item = await catalogRead(() =>
    catalogClient(env).readLinearizable((stub, id, timeoutMs) => stub.get(id, KEY_PREFIX + name, 'linearizable', timeoutMs)),
  );
  return item ? toEntry(item) : null;
}

/** Every entry of the catalog (deleted ones included), read linearizably. */
export async function listEntries(env: Cloudflare.Env): Promise<VersionedEntry[]> {
  const items = await catalogRead(() =>
    catalogClient(env).readLinearizable((stub, id, timeoutMs) => stub.list(id, KEY_PREFIX, LIST_MAX, 'linearizable', timeoutMs)),
  );
  return items.map(toEntry);
}

/**
 * Write `entry` for `name` only if the key is still at `ifRevision` (0: only
 * if absent). Returns the new revision, or null if another request changed
 * the entry first. The Worker retries across catalog leader changes with one
 * idempotency key, so the write applies at most once.
 */
export async function compareAndSet(env: Cloudflare.Env, name: string, entry: CatalogEntry, ifRevision: number): Promise<number | null> {
  let result;
  try {
    result = await catalogClient(env).write({
      kind: 'put',
      key: KEY_PREFIX + name,
      value: JSON.stringify(entry),
      ifRevision,
      idempotencyKey: `catalog:${crypto.randomUUID()}`,
    });
  } catch (e) {
    forgetEntry(name);
    if (e instanceof ApiError && e.code === 'outcome_unknown') {
      throw new ApiError(503, 'outcome_unknown', `the catalog lost its leader while recording stream '${name}'; the change may or may not have been made: GET /v1/streams/${name} tells`);
    }
    if (e instanceof ApiError && e.status === 503) {
      throw new ApiError(503, 'catalog_unavailable', `the stream catalog could not be written (${e.message}); nothing was changed`);
    }
    throw e;
  }
  if (result.kind !== 'put') throw new Error(`unexpected catalog result: ${JSON.stringify(result)}`);
  forgetEntry(name);
  return result.ok ? result.revision : null;
}

/**
 * A stream of the deployment by name, and where it comes from: configured,
 * the catalog itself, or created at run time (looked up in the catalog).
 * Throws 404 `stream_not_found` for anything else.
 */
export async function resolveStream(env: Cloudflare.Env, name: string): Promise<StreamClient> {
  const config = clusterConfig(env.EDGEPAXOS_CONFIG);
  const configured = findStream(config, name);
  if (configured) return new StreamClient(env, configured);
  if (name === CATALOG_STREAM) return new StreamClient(env, catalogStream(config), { kind: 'system' });
  const notFound = new ApiError(404, 'stream_not_found', `no stream '${name}' is configured or was created`);
  if (!isCreatableName(name)) throw notFound; // cannot be in the catalog: spare it a read
  if (parseShardName(name)) {
    // A shard of a keyspace created at run time: derived from the keyspace's catalog entry.
    const shard = await resolveShardStream(env, name);
    if (!shard) throw notFound;
    return shard;
  }
  const found = await activeEntry(env, name);
  if (!found?.entry.definition) throw notFound;
  return dynamicClient(env, found);
}

/** The client of a stream created at run time. */
export function dynamicClient(env: Cloudflare.Env, found: VersionedEntry): StreamClient {
  const definition = found.entry.definition;
  if (!definition) throw new Error(`catalog entry of '${found.name}' has no definition`);
  return new StreamClient(env, definition, { kind: 'dynamic', incarnation: found.entry.incarnation, onDeleted: () => forgetEntry(found.name) });
}

/** Names a user may create: a valid stream name not starting with `_`. */
export function isCreatableName(name: string): boolean {
  return /^[a-z0-9][a-z0-9_-]{0,62}$/.test(name);
}

function toEntry(item: KvItem): VersionedEntry {
  const name = item.key.slice(KEY_PREFIX.length);
  const raw = EntrySchema.parse(JSON.parse(item.value));
  // Definitions were validated when created; parsing again fills no new defaults but keeps the type honest.
  const definition = raw.definition === undefined ? undefined : parseStreamDefinition(raw.definition);
  const entry: CatalogEntry = {
    state: raw.state,
    incarnation: raw.incarnation,
    created_at: raw.created_at,
    ...(definition ? { definition } : {}),
    ...(raw.deleted_at !== undefined ? { deleted_at: raw.deleted_at } : {}),
  };
  return { name, entry, revision: item.revision };
}

/** A catalog read that cannot be served says that the catalog, not the stream, is unavailable. */
async function catalogRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) {
      throw new ApiError(503, 'catalog_unavailable', `the stream catalog could not be read (${e.message}); streams created at run time cannot be found or changed until it answers`);
    }
    throw e;
  }
}

/** A stream the caller may read, as the stream list and the cluster status show it. */
export interface VisibleStream {
  readonly name: string;
  readonly kind: 'configured' | 'system' | 'dynamic';
  /** Null for a stream being deleted: its replicas are wiped or about to be, and are not asked anything. */
  readonly client: StreamClient | null;
  readonly replicas: readonly number[];
  /** For a stream created at run time: its state, incarnation and creation time. */
  readonly entry?: { readonly state: CatalogState; readonly incarnation: string; readonly created_at: string };
}

/**
 * Every stream `principal` may read: the configured ones, the catalog, then
 * those created at run time. When the catalog cannot be read, the others are
 * still listed and `catalogError` says why. Anonymous callers are refused
 * unless the data plane is public.
 */
export async function visibleStreams(env: Cloudflare.Env, principal: Principal): Promise<{ streams: VisibleStream[]; catalogError: string | null }> {
  if (principal.kind === 'anonymous') authorize(principal, { stream: CATALOG_STREAM, access: 'read' });
  const visible = (name: string): boolean => mayRead(principal, name);
  const config = clusterConfig(env.EDGEPAXOS_CONFIG);
  const streams: VisibleStream[] = config.streams
    .filter((s) => visible(s.name))
    .map((s) => ({ name: s.name, kind: 'configured' as const, client: new StreamClient(env, s), replicas: s.replicas.map((r) => r.id) }));
  if (visible(CATALOG_STREAM)) {
    const catalog = catalogStream(config);
    streams.push({ name: CATALOG_STREAM, kind: 'system', client: new StreamClient(env, catalog, { kind: 'system' }), replicas: catalog.replicas.map((r) => r.id) });
  }
  let catalogError: string | null = null;
  try {
    for (const e of await listEntries(env)) {
      if (e.entry.state === 'deleted' || !visible(e.name)) continue;
      const entry = { state: e.entry.state, incarnation: e.entry.incarnation, created_at: e.entry.created_at };
      const replicas = e.entry.definition?.replicas.map((r) => r.id) ?? [];
      // A stream being deleted or restored is not asked anything: its replicas are wiped, or wait for their seed.
      streams.push({ name: e.name, kind: 'dynamic', client: e.entry.state === 'active' ? dynamicClient(env, e) : null, replicas, entry });
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    catalogError = e.message; // the configured streams can still be listed
  }
  return { streams, catalogError };
}
