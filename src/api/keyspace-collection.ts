import type { KeyspaceDefinition, KeyspaceDeletion, KeyspaceEntry, KeyspaceList } from '../client/types.ts';
import { DefinitionError, type KeyspaceConfig, clusterConfig, findKeyspace, parseKeyspaceDefinition, shardStreamName } from '../host/config.ts';
import { ApiError } from './errors.ts';
import { type Principal, authorize, mayRead } from './grants.ts';
import { type Keyspace, type VersionedKeyspace, compareAndSetKeyspace, forgetKeyspace, listKeyspaceEntries, newKeyspaceEntry, readKeyspace, shardClient } from './keyspace-catalog.ts';
import { DEFINITION_BYTES_MAX, wipeReplicas } from './streams-service.ts';

/**
 * The keyspace collection: create a keyspace at run time, list, describe and
 * delete, one code path behind the HTTP routes (keyspaces.ts), the
 * EdgePaxosAdmin entrypoint (all four) and the EdgePaxos entrypoint (list and
 * describe). Each function checks the caller's right on the keyspace's name
 * itself (admin to create or delete, read to describe; the list shows what
 * the caller may read), as streams-service.ts does for streams.
 */

/** Attempts of a delete whose catalog entry keeps changing under it. */
const DELETE_ATTEMPTS = 5;

/** The definition in a request, validated like an entry of EDGEPAXOS_CONFIG's `keyspaces`; 400 naming every problem. */
export function parseDefinition(raw: unknown): KeyspaceConfig {
  // The route's body limit, measured here too so a definition over RPC is refused the same way.
  const bytes = new TextEncoder().encode(JSON.stringify(raw) ?? '').length;
  if (bytes > DEFINITION_BYTES_MAX) throw new ApiError(413, 'payload_too_large', `a keyspace definition is at most ${DEFINITION_BYTES_MAX} bytes of JSON; this one is ${bytes}`);
  try {
    return parseKeyspaceDefinition(raw);
  } catch (e) {
    if (e instanceof DefinitionError) throw new ApiError(400, 'invalid_request', e.message);
    throw e;
  }
}

/** Create keyspace `definition.name` at run time: one compare-and-set on its catalog key (no partial creation). */
export async function createKeyspace(env: Cloudflare.Env, principal: Principal, definition: KeyspaceConfig): Promise<KeyspaceEntry> {
  const name = definition.name;
  authorize(principal, { stream: name, access: 'admin' });
  if (findKeyspace(clusterConfig(env.EDGEPAXOS_CONFIG), name)) throw new ApiError(409, 'keyspace_exists', `keyspace '${name}' is configured in EDGEPAXOS_CONFIG`);
  const current = await readKeyspace(env, name);
  if (current && current.entry.state !== 'deleted') {
    throw new ApiError(409, 'keyspace_exists', current.entry.state === 'deleting' ? `keyspace '${name}' is being deleted; repeat DELETE /v1/keyspaces/${name} to finish` : `keyspace '${name}' already exists`);
  }
  const entry = newKeyspaceEntry(definition);
  const revision = await compareAndSetKeyspace(env, name, entry, current?.revision ?? 0);
  if (revision === null) throw new ApiError(409, 'keyspace_exists', `keyspace '${name}' was created (or changed) by another request at the same time; this one changed nothing`);
  return describeDynamic({ name, entry, revision });
}

/** Every keyspace `principal` may read: the configured ones, then those created at run time (unless the catalog cannot be read: `catalog_error`). */
export async function listKeyspaces(env: Cloudflare.Env, principal: Principal): Promise<KeyspaceList> {
  const configured = clusterConfig(env.EDGEPAXOS_CONFIG)
    .keyspaces.filter((k) => mayRead(principal, k.name))
    .map(describeConfigured);
  let catalogError: string | null = null;
  let dynamic: KeyspaceEntry[] = [];
  try {
    dynamic = (await listKeyspaceEntries(env)).filter((e) => e.entry.state !== 'deleted' && mayRead(principal, e.name)).map(describeDynamic);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    catalogError = e.message; // the configured keyspaces can still be listed
  }
  return { keyspaces: [...configured, ...dynamic], catalog_error: catalogError };
}

/** A keyspace's definition and shard map (404 `keyspace_not_found` for an unknown or deleted one). */
export async function describeKeyspace(env: Cloudflare.Env, principal: Principal, name: string): Promise<KeyspaceEntry> {
  authorize(principal, { stream: name, access: 'read' });
  const configured = findKeyspace(clusterConfig(env.EDGEPAXOS_CONFIG), name);
  if (configured) return describeConfigured(configured);
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw notFound(name);
  const current = await readKeyspace(env, name);
  if (!current || current.entry.state === 'deleted') throw notFound(name);
  return describeDynamic(current);
}

/**
 * Delete keyspace `name` (created at run time): mark it `deleting` (its
 * shards answer 404 from then on), wipe every replica of every shard, then
 * mark it `deleted`; `deleting` with the replicas not reached when some did
 * not answer (repeat the call).
 */
export async function deleteKeyspace(env: Cloudflare.Env, principal: Principal, name: string): Promise<KeyspaceDeletion> {
  authorize(principal, { stream: name, access: 'admin' });
  if (findKeyspace(clusterConfig(env.EDGEPAXOS_CONFIG), name)) throw new ApiError(409, 'configured_keyspace', `keyspace '${name}' is defined in EDGEPAXOS_CONFIG; remove it there and redeploy`);
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw notFound(name);
  for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
    const current = await readKeyspace(env, name);
    if (!current || current.entry.state === 'deleted' || !current.entry.definition || !current.entry.map) throw notFound(name);
    let deleting = current;
    if (current.entry.state === 'active') {
      const entry = { ...current.entry, state: 'deleting' as const };
      const revision = await compareAndSetKeyspace(env, name, entry, current.revision);
      if (revision === null) continue; // changed under us: look again
      deleting = { name, entry, revision };
    }
    forgetKeyspace(name);
    const ks: Keyspace = { name, kind: 'dynamic', definition: deleting.entry.definition!, map: deleting.entry.map!, incarnation: deleting.entry.incarnation };
    const notReached = (await Promise.all(Array.from({ length: ks.definition.shards }, (_, i) => wipeShard(env, ks, i)))).flat();
    if (notReached.length === 0) {
      const { definition: _d, map: _m, ...kept } = deleting.entry;
      await compareAndSetKeyspace(env, name, { ...kept, state: 'deleted', deleted_at: new Date().toISOString() }, deleting.revision);
    }
    return { name, incarnation: deleting.entry.incarnation, state: notReached.length === 0 ? 'deleted' : 'deleting', not_reached: notReached };
  }
  throw new ApiError(409, 'conflict', `keyspace '${name}' kept changing while it was being deleted; try again`);
}

function notFound(name: string): ApiError {
  return new ApiError(404, 'keyspace_not_found', `no keyspace '${name}' is configured or was created`);
}

function shardNames(name: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, i) => shardStreamName(name, i));
}

function describeConfigured(k: KeyspaceConfig): KeyspaceEntry {
  return { name: k.name, kind: 'configured', map_version: 1, shards: shardNames(k.name, k.shards), definition: k as unknown as KeyspaceDefinition };
}

function describeDynamic(e: VersionedKeyspace): KeyspaceEntry {
  const d = e.entry.definition;
  return {
    name: e.name,
    kind: 'dynamic',
    state: e.entry.state,
    incarnation: e.entry.incarnation,
    created_at: e.entry.created_at,
    map_version: e.entry.map?.version ?? 0,
    shards: d ? shardNames(e.name, d.shards) : [],
    ...(d ? { definition: d as unknown as KeyspaceDefinition } : {}),
    ...(e.entry.grow ? { grow: e.entry.grow } : {}),
  };
}

/** Tell every replica of shard `i` to wipe itself; the `shard/replica` names of those that did not confirm. */
async function wipeShard(env: Cloudflare.Env, ks: Keyspace, i: number): Promise<string[]> {
  const client = shardClient(env, ks, i);
  return (await wipeReplicas(client)).map((id) => `${client.stream.name}/${id}`);
}
