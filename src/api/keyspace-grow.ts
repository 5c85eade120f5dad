import { clusterConfig, findKeyspace } from '../host/config.ts';
import { timingWindows } from '../host/timing-windows.ts';
import { type RangeMove, grownMap } from '../kv/index.ts';
import { ApiError } from './errors.ts';
import { ADMIN_BINDING, type Principal, authorize } from './grants.ts';
import { type VersionedKeyspace, compareAndSetKeyspace, forgetKeyspace, keyspaceOf, readKeyspace, shardClient } from './keyspace-catalog.ts';
import { type KeyspaceTarget, assignment, setResumeGrow, settle } from './keyspace-service.ts';
import { unexpected } from './service.ts';

/**
 * Growing a keyspace online (docs/scaling.md "Growing a keyspace"): one
 * service function behind `POST /v1/keyspaces/{ks}/grow`, the admin RPC
 * method and the CLI. Every step is decided (in the catalog or a shard's
 * log) and idempotent, so a crash anywhere, a lost reply or two drivers at
 * once end in the same state; repeating the call resumes an unfinished grow.
 *
 * 1. The catalog entry moves to map version v+1 (compare-and-set) with the
 *    grow recorded: which range goes from which shard to which new one. From
 *    then on routers route by v+1; a key of a moving range meets its new
 *    shard, which answers `moving` (retryable) until step 3 ends.
 * 2. Every shard is assigned v+1. For a source shard that is the hand-off:
 *    from that slot on it serves the moving ranges no more, and their keys
 *    stay frozen in it. It refuses the hand-off while a transaction's intent
 *    holds one of those keys (settled here, then assigned again). A new
 *    shard gets its ranges as incoming.
 * 3. Per moving range: the frozen keys are read from the source in chunks (a
 *    decided `shard-export`) and installed at the new shard (`shard-install`,
 *    by key, raising its revisions above the source's); then `shard-ready`
 *    makes the new shard serve the range, `shard-drop` deletes the frozen
 *    keys at the source, and the catalog marks the range done.
 * 4. When every range is done the catalog forgets the grow.
 */

/** The highest shard count of a keyspace (as when creating one). */
export const SHARDS_MAX = 256;

export interface GrowResult {
  readonly name: string;
  readonly map_version: number;
  readonly shards: number;
  /** `grown`: finished; `growing`: some range is still moving (repeat the call). */
  readonly state: 'grown' | 'growing';
  readonly moves: readonly (RangeMove & { readonly done: boolean })[];
}

/** Grow keyspace `name` to `shards` shards, or resume its unfinished grow. */
export async function growKeyspace(env: Cloudflare.Env, principal: Principal, name: string, shards: number): Promise<GrowResult> {
  authorize(principal, { stream: name, access: 'admin' });
  if (!Number.isInteger(shards) || shards < 2 || shards > SHARDS_MAX) throw new ApiError(400, 'invalid_request', `shards must be an integer from 2 to ${SHARDS_MAX}`);
  if (findKeyspace(clusterConfig(env.EDGEPAXOS_CONFIG), name)) {
    throw new ApiError(409, 'configured_keyspace', `keyspace '${name}' is defined in EDGEPAXOS_CONFIG (map version 1, fixed): only keyspaces created at run time grow online`);
  }
  const started = await startGrow(env, name, shards);
  return runGrow(env, principal, started);
}

/** Step 1: record the grow in the catalog (or find the one in progress). */
export async function startGrow(env: Cloudflare.Env, name: string, shards: number): Promise<VersionedKeyspace> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await readKeyspace(env, name);
    if (!current || current.entry.state !== 'active' || !current.entry.definition || !current.entry.map) throw new ApiError(404, 'keyspace_not_found', `no keyspace '${name}' was created at run time`);
    const { entry } = current;
    const have = entry.definition!.shards;
    if (entry.grow) {
      if (have !== shards) throw new ApiError(409, 'grow_in_progress', `keyspace '${name}' is growing from ${entry.grow.from_shards} to ${have} shards; repeat that call ({"shards": ${have}}) to finish it first`);
      return current;
    }
    if (shards === have) return current; // grown already (a repeat after the end)
    if (shards < have) throw new ApiError(400, 'invalid_request', `keyspace '${name}' has ${have} shards: it can only grow (no shrinking)`);
    const grown = grownMap(entry.map!, shards);
    const next = {
      ...entry,
      definition: { ...entry.definition!, shards },
      map: grown.map,
      grow: { from_shards: have, started_at: new Date().toISOString(), moves: grown.moves.map((m) => ({ ...m, done: false })) },
    };
    const revision = await compareAndSetKeyspace(env, name, next, current.revision);
    if (revision !== null) return { name, entry: next, revision };
  }
  throw new ApiError(409, 'conflict', `keyspace '${name}' kept changing while its grow was being recorded; try again`);
}

/** Steps 2-4 for a keyspace whose entry records a grow; the outcome. Nothing happens for one that records none. */
export async function runGrow(env: Cloudflare.Env, principal: Principal, read: VersionedKeyspace): Promise<GrowResult> {
  if (!read.entry.grow) return result(read);
  const ks = keyspaceOf(read);
  const t: KeyspaceTarget = { env, principal, ks };
  forgetKeyspace(ks.name);
  await Promise.all(Array.from({ length: ks.definition.shards }, (_, shard) => assign(t, shard)));
  await Promise.all((ks.moving ?? []).map(async (move) => {
    await copy(t, move);
    await markDone(env, ks.name, move);
  }));
  const after = await readKeyspace(env, ks.name);
  if (!after) throw new ApiError(404, 'keyspace_not_found', `keyspace '${ks.name}' was deleted while it grew`);
  return result(after);
}

/** Assign `shard` the grown map (for a source, the hand-off), settling the intents that hold moving keys until it takes. */
export async function assign(t: KeyspaceTarget, shard: number): Promise<void> {
  const client = shardClient(t.env, t.ks, shard);
  const deadline = Date.now() + 4 * timingWindows(client.stream).requestDeadlineMs;
  while (Date.now() < deadline) {
    const r = await client.write(assignment(t.ks, shard));
    if (r.kind === 'shard-assigned') {
      if (r.version !== t.ks.map.version) throw new Error(`grow: shard ${shard} of '${t.ks.name}' holds map version ${r.version} while version ${t.ks.map.version} grows`);
      return;
    }
    if (r.kind === 'rejected' && r.code === 'locked') {
      await settle(t, client, r.intent);
      continue;
    }
    throw unexpected(r);
  }
  throw new ApiError(503, 'unavailable', `shard ${shard} of '${t.ks.name}' kept refusing its hand-off (transactions held its moving keys); nothing is lost: repeat the call`);
}

/** Copy one moving range from its source (which handed it off) to its new shard, make that serve it, drop the source's frozen copy. */
export async function copy(t: KeyspaceTarget, move: RangeMove, chunks = Infinity, limit?: number): Promise<void> {
  const version = t.ks.map.version;
  const source = shardClient(t.env, t.ks, move.source);
  const target = shardClient(t.env, t.ks, move.target);
  let after: string | null = null;
  for (let n = 0; n < chunks; n++) {
    const page = await source.write({ kind: 'shard-export', version, from: move.from, to: move.to, after, ...(limit !== undefined ? { limit } : {}) });
    if (page.kind !== 'shard-export') throw unexpected(page);
    if (page.items.length > 0) {
      const installed = await target.write({ kind: 'shard-install', version, items: page.items.map((i) => [i.key, i.value] as const), revisionFloor: page.revision });
      if (installed.kind !== 'shard-installed') throw unexpected(installed);
      // Not installed: the range is served there already (another driver finished the copy), so nothing more is needed.
      if (!installed.applied) break;
    }
    if (!page.more) break;
    after = page.items[page.items.length - 1]!.key;
  }
  if (chunks !== Infinity) return; // (tests: an interrupted copy)
  const ready = await target.write({ kind: 'shard-ready', version, from: move.from, to: move.to });
  if (ready.kind !== 'shard-ready') throw unexpected(ready);
  const dropped = await source.write({ kind: 'shard-drop', version, from: move.from, to: move.to });
  if (dropped.kind !== 'shard-dropped') throw unexpected(dropped);
}

/** Mark `move` done in the catalog; the last one ends the grow. */
async function markDone(env: Cloudflare.Env, name: string, move: RangeMove): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await readKeyspace(env, name);
    const grow = current?.entry.grow;
    if (!current || !grow) return;
    const moves = grow.moves.map((m) => (m.from === move.from && m.to === move.to ? { ...m, done: true } : m));
    const { grow: _g, ...rest } = current.entry;
    const next = moves.every((m) => m.done) ? rest : { ...rest, grow: { ...grow, moves } };
    if ((await compareAndSetKeyspace(env, name, next, current.revision)) !== null) return;
  }
  throw new ApiError(409, 'conflict', `keyspace '${name}' kept changing while its grow was being marked done; repeat the call`);
}

function result(read: VersionedKeyspace): GrowResult {
  const { entry } = read;
  return {
    name: read.name,
    map_version: entry.map?.version ?? 0,
    shards: entry.definition?.shards ?? 0,
    state: entry.grow ? 'growing' : 'grown',
    moves: entry.grow?.moves ?? [],
  };
}

/** Resume keyspace `name`'s grow, if it has one (routers call this when a grow looks stalled). */
export async function resumeGrow(env: Cloudflare.Env, principal: Principal, name: string): Promise<GrowResult | null> {
  const read = await readKeyspace(env, name);
  if (!read?.entry.grow || read.entry.state !== 'active') return null;
  return runGrow(env, principal, read);
}

// Routers drive a grow that looks stalled (keyspace-service.ts waitForMove): as the machinery, not as the caller they serve.
setResumeGrow((env, name) => resumeGrow(env, ADMIN_BINDING, name));
