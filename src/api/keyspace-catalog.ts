import { z } from 'zod';
import { type KeyspaceConfig, type StreamConfig, clusterConfig, configuredShard, findKeyspace, parseKeyspaceDefinition, parseShardName, shardDefinition } from '../host/config.ts';
import { type HashRange, type RangeMove, type ShardMap, evenMap, mapProblem } from '../kv/index.ts';
import { CATALOG_CACHE_TTL_MS, catalogClient, newIncarnation } from './catalog.ts';
import { ApiError } from './errors.ts';
import { StreamClient } from './stream-client.ts';

/**
 * Keyspaces as the catalog records them: `keyspaces/<name>` in the `_catalog`
 * stream holds the definition, the shard map (ranges of key hashes -> shard,
 * with its version) and an incarnation; shard i is the stream
 * `<name>_s<NNNN>`, derived from the definition (config.ts shardDefinition),
 * so creating a keyspace is one compare-and-set on one catalog key, and
 * every Worker routes by the same map. Keyspaces of EDGEPAXOS_CONFIG have
 * map version 1 and are never in the catalog.
 *
 * An entry's life is a stream's: absent -> `active` -> `deleting` (its
 * shards answer 404 from then on) -> `deleted` (every shard replica wiped).
 */

const KEY_PREFIX = 'keyspaces/';
const LIST_MAX = 10_000;

export type KeyspaceState = 'active' | 'deleting' | 'deleted';

export interface KeyspaceEntry {
  readonly state: KeyspaceState;
  readonly incarnation: string;
  readonly created_at: string;
  readonly definition?: KeyspaceConfig;
  readonly map?: ShardMap;
  readonly deleted_at?: string;
  /** A grow in progress (keyspace-grow.ts): `map` is already the grown one; these ranges move, `done` once copied and served. */
  readonly grow?: GrowState;
}

export interface GrowState {
  readonly from_shards: number;
  readonly started_at: string;
  readonly moves: readonly (RangeMove & { readonly done: boolean })[];
}

export interface VersionedKeyspace {
  readonly name: string;
  readonly entry: KeyspaceEntry;
  readonly revision: number;
}

/** A keyspace a request can be routed in: its definition and the shard map this Worker knows. */
export interface Keyspace {
  readonly name: string;
  readonly kind: 'configured' | 'dynamic';
  readonly definition: KeyspaceConfig;
  readonly map: ShardMap;
  /** The incarnation of a keyspace created at run time (part of its shards' replica names). */
  readonly incarnation?: string;
  /** The ranges of an unfinished grow not yet served by their new shard (assigned to it as incoming). */
  readonly moving?: readonly RangeMove[];
  /** When that grow started (ms since the epoch). */
  readonly growStartedAt?: number;
}

const EntrySchema = z
  .object({
    state: z.enum(['active', 'deleting', 'deleted']),
    incarnation: z.string().regex(/^[0-9a-f]{1,64}$/),
    created_at: z.string(),
    definition: z.unknown().optional(),
    map: z.object({ version: z.number().int().min(1), ranges: z.array(z.tuple([z.number().int(), z.number().int(), z.number().int()])) }).optional(),
    deleted_at: z.string().optional(),
    grow: z
      .object({
        from_shards: z.number().int().min(1),
        started_at: z.string(),
        moves: z.array(z.object({ from: z.number().int(), to: z.number().int(), source: z.number().int(), target: z.number().int(), done: z.boolean() }).strict()),
      })
      .strict()
      .optional(),
  })
  .strict();

const cache = new Map<string, { readonly keyspace: Keyspace; readonly readAt: number }>();

/** Forget what this isolate cached about keyspace `name`. */
export function forgetKeyspace(name: string): void {
  cache.delete(name);
}

/**
 * Keyspace `name` for routing: configured, or from this isolate's cache while
 * fresh, or read from the catalog linearizably (`fresh`: always read; a
 * router corrected by a shard reads again). 404 `keyspace_not_found`.
 */
export async function resolveKeyspace(env: Cloudflare.Env, name: string, fresh = false): Promise<Keyspace> {
  const configured = findKeyspace(clusterConfig(env.EDGEPAXOS_CONFIG), name);
  if (configured) return { name, kind: 'configured', definition: configured, map: evenMap(configured.shards) };
  const notFound = new ApiError(404, 'keyspace_not_found', `no keyspace '${name}' is configured or was created`);
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw notFound;
  const hit = cache.get(name);
  if (!fresh && hit && Date.now() - hit.readAt < CATALOG_CACHE_TTL_MS) return hit.keyspace;
  const read = await readKeyspace(env, name);
  if (!read || read.entry.state !== 'active' || !read.entry.definition || !read.entry.map) {
    cache.delete(name);
    throw notFound;
  }
  const keyspace = keyspaceOf(read);
  cache.set(name, { keyspace, readAt: Date.now() });
  return keyspace;
}

/** The routing view of an active catalog entry (with definition and map). */
export function keyspaceOf(read: VersionedKeyspace): Keyspace {
  const { entry } = read;
  const grow = entry.grow;
  const moving = grow ? grow.moves.filter((m) => !m.done).map(({ from, to, source, target }) => ({ from, to, source, target })) : [];
  return {
    name: read.name,
    kind: 'dynamic',
    definition: entry.definition!,
    map: entry.map!,
    incarnation: entry.incarnation,
    ...(moving.length > 0 ? { moving, growStartedAt: Date.parse(grow!.started_at) } : {}),
  };
}

/** For tests of the router: make this isolate hold `keyspace` as its cached view (a stale map, say). */
export function cacheKeyspace(keyspace: Keyspace): void {
  cache.set(keyspace.name, { keyspace, readAt: Date.now() });
}

/** The stream of shard `i`. */
export function shardStream(ks: Keyspace, i: number): StreamConfig {
  return ks.kind === 'configured' ? configuredShard(ks.definition, i) : shardDefinition(ks.definition, i);
}

/** The client of shard `i`'s stream. */
export function shardClient(env: Cloudflare.Env, ks: Keyspace, i: number): StreamClient {
  const stream = shardStream(ks, i);
  if (ks.kind === 'configured') return new StreamClient(env, stream);
  return new StreamClient(env, stream, { kind: 'dynamic', incarnation: ks.incarnation!, onDeleted: () => forgetKeyspace(ks.name) });
}

/** A shard stream of a keyspace created at run time, by its stream name; null when the name is no such shard. */
export async function resolveShardStream(env: Cloudflare.Env, name: string): Promise<StreamClient | null> {
  const parsed = parseShardName(name);
  if (!parsed) return null;
  let ks: Keyspace;
  try {
    ks = await resolveKeyspace(env, parsed.keyspace);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
  if (parsed.shard >= ks.definition.shards) return null;
  return shardClient(env, ks, parsed.shard);
}

export async function readKeyspace(env: Cloudflare.Env, name: string): Promise<VersionedKeyspace | null> {
  const item = await catalogRead(() => catalogClient(env).readLinearizable((stub, id, timeoutMs) => stub.get(id, KEY_PREFIX + name, 'linearizable', timeoutMs)));
  return item ? toEntry(item.key, item.value, item.revision) : null;
}

export async function listKeyspaceEntries(env: Cloudflare.Env): Promise<VersionedKeyspace[]> {
  const items = await catalogRead(() => catalogClient(env).readLinearizable((stub, id, timeoutMs) => stub.list(id, KEY_PREFIX, LIST_MAX, 'linearizable', timeoutMs)));
  return items.map((i) => toEntry(i.key, i.value, i.revision));
}

/** The entry of a new keyspace: a fresh incarnation and the even map of its shards. */
export function newKeyspaceEntry(definition: KeyspaceConfig): KeyspaceEntry {
  return { state: 'active', incarnation: newIncarnation(), created_at: new Date().toISOString(), definition, map: evenMap(definition.shards) };
}

/** Write `entry` for keyspace `name` only if its key is still at `ifRevision` (0: absent); the new revision, or null if another request changed it first. */
export async function compareAndSetKeyspace(env: Cloudflare.Env, name: string, entry: KeyspaceEntry, ifRevision: number): Promise<number | null> {
  const stored = { ...entry, ...(entry.map ? { map: { version: entry.map.version, ranges: entry.map.ranges.map((r) => [r.from, r.to, r.shard]) } } : {}) };
  let result;
  try {
    result = await catalogClient(env).write({ kind: 'put', key: KEY_PREFIX + name, value: JSON.stringify(stored), ifRevision, idempotencyKey: `catalog:${crypto.randomUUID()}` });
  } catch (e) {
    forgetKeyspace(name);
    if (e instanceof ApiError && e.code === 'outcome_unknown') {
      throw new ApiError(503, 'outcome_unknown', `the catalog lost its leader while recording keyspace '${name}'; the change may or may not have been made: GET /v1/keyspaces/${name} tells`);
    }
    if (e instanceof ApiError && e.status === 503) throw new ApiError(503, 'catalog_unavailable', `the catalog could not be written (${e.message}); nothing was changed`);
    throw e;
  }
  if (result.kind !== 'put') throw new Error(`unexpected catalog result: ${JSON.stringify(result)}`);
  forgetKeyspace(name);
  return result.ok ? result.revision : null;
}

function toEntry(key: string, value: string, revision: number): VersionedKeyspace {
  const name = key.slice(KEY_PREFIX.length);
  const raw = EntrySchema.parse(JSON.parse(value));
  const definition = raw.definition === undefined ? undefined : parseKeyspaceDefinition(raw.definition);
  const map = raw.map ? { version: raw.map.version, ranges: raw.map.ranges.map(([from, to, shard]): HashRange => ({ from, to, shard })) } : undefined;
  if (map && mapProblem(map) !== null) throw new Error(`catalog: keyspace '${name}' has an invalid map: ${mapProblem(map)}`);
  const entry: KeyspaceEntry = {
    state: raw.state,
    incarnation: raw.incarnation,
    created_at: raw.created_at,
    ...(definition ? { definition } : {}),
    ...(map ? { map } : {}),
    ...(raw.deleted_at !== undefined ? { deleted_at: raw.deleted_at } : {}),
    ...(raw.grow !== undefined ? { grow: raw.grow } : {}),
  };
  return { name, entry, revision };
}

async function catalogRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) {
      throw new ApiError(503, 'catalog_unavailable', `the catalog could not be read (${e.message}); keyspaces created at run time cannot be found or changed until it answers`);
    }
    throw e;
  }
}
