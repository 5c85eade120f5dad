import { WatchMerge, parseWatchCursor } from '../client/keyspace-watch.ts';
import type { KeyspaceWatchEvent, KeyspaceWatchOptions, WatchEvent } from '../client/types.ts';
import { readSse } from '../client/watch.ts';
import { shardOfKey } from '../kv/index.ts';
import { ApiError } from './errors.ts';
import { authorize } from './grants.ts';
import { forgetKeyspace, readKeyspace, resolveKeyspace, shardClient } from './keyspace-catalog.ts';
import type { KeyspaceTarget } from './keyspace-service.ts';
import { WATCH_MAX_DURATION_MS, WATCH_PROGRESS_MS, WATCH_QUEUE_BYTES_MAX, openReplicaWatch } from './service.ts';
import { byteLength, checkKey } from './validation.ts';

/**
 * A watch over a keyspace: one stream watch per shard it covers (a key: its
 * shard; a prefix: every shard), each at one replica of that shard, merged
 * into one SSE stream. Revisions are per shard, so every event names its
 * `shard`, and the position of the watch is one revision per shard: the
 * cursor `SHARD:REVISION,...` (src/client/keyspace-watch.ts). A shard's
 * revision is forwarded whole, its last event carrying the cursor after it
 * as `id:`, so a client that resumes from the last `id:` it received loses
 * and repeats nothing. The events of one key all come from its shard, in
 * that shard's revision order; events of different shards are interleaved
 * as they arrive (no order across shards: none exists).
 *
 * The merged stream ends when any shard's connection ends (its time is up,
 * its replica stopped, its reader was cut off), when one shard says
 * `compacted` (passed on with its shard), or when the keyspace's shard map
 * changed (a grow: the catalog is read again at every progress interval), so
 * the client reconnects under the new map; a grow's moves are left out
 * (WatchMerge). A reader that falls more than
 * WATCH_QUEUE_BYTES_MAX behind is cut off the same way. The client resumes
 * from the cursor; `watchKeyspaceForever` does it.
 */
export async function ksWatch(target: KeyspaceTarget, opts: KeyspaceWatchOptions & { readonly continent?: string }): Promise<ReadableStream<Uint8Array>> {
  let t = target;
  const name = t.ks.name;
  if ((opts.key === undefined) === (opts.prefix === undefined)) throw new ApiError(400, 'invalid_request', 'give key or prefix (one of them)');
  if (opts.key !== undefined) {
    checkKey(opts.key);
    authorize(t.principal, { stream: name, access: 'read', key: opts.key });
  } else {
    if (byteLength(opts.prefix!) > 1024) throw new ApiError(400, 'invalid_key', 'a prefix is at most 1024 bytes');
    authorize(t.principal, { stream: name, access: 'read', listPrefix: opts.prefix! });
  }
  const maxDurationMs = opts.maxDurationMs ?? WATCH_MAX_DURATION_MS;
  const progressMs = opts.progressMs ?? WATCH_PROGRESS_MS;
  if (!Number.isInteger(maxDurationMs) || maxDurationMs < 1000 || maxDurationMs > WATCH_MAX_DURATION_MS) throw new ApiError(400, 'invalid_request', `max_duration_ms must be 1000 to ${WATCH_MAX_DURATION_MS}`);
  if (!Number.isInteger(progressMs) || progressMs < 1000 || progressMs > 60_000) throw new ApiError(400, 'invalid_request', 'progress_ms must be 1000 to 60000');
  const from = opts.fromRevision === undefined ? new Map<number, number>() : parseWatchCursor(opts.fromRevision);
  if (from === null) throw new ApiError(400, 'invalid_request', 'from_revision: a keyspace watch resumes from a cursor SHARD:REVISION,... (the id: of the last event received)');
  const filter = opts.key !== undefined ? { key: opts.key } : { prefix: opts.prefix! };
  // A cursor made under a grown map names shards a stale cached map lacks: read the catalog again.
  if (t.ks.kind === 'dynamic' && [...from.keys()].some((s) => s >= t.ks.definition.shards)) t = { ...t, ks: await resolveKeyspace(t.env, name, true) };
  const { ks } = t;
  const count = ks.definition.shards;
  // A key watch covers its shard; in a keyspace that may grow, also the shards its cursor names: after a
  // grow moved the key, its changes at the old shard the previous connection had not passed on come first.
  const shards =
    opts.key === undefined
      ? Array.from({ length: count }, (_, i) => i)
      : ks.kind === 'dynamic'
        ? [...new Set([shardOfKey(ks.map, opts.key), ...[...from.keys()].filter((s) => s < count)])].sort((a, b) => a - b)
        : [shardOfKey(ks.map, opts.key)];
  for (const shard of from.keys()) {
    if (!shards.includes(shard)) throw new ApiError(400, 'invalid_request', `from_revision names shard ${shard}, which this watch does not cover (keyspace '${name}' has ${count} shards${opts.key !== undefined ? `; key '${opts.key}' is on shard ${shards[0]}` : ''})`);
  }
  // Resuming, a shard the cursor does not name is one the previous connection did not cover: a grow's
  // new shard (a cursor names every shard its connection covered). It starts at its first revision,
  // so no write made there before this connection is missed (WatchMerge holds it behind the others).
  const late = new Set(from.size > 0 ? shards.filter((s) => !from.has(s)) : []);
  const startAt = (shard: number): number | undefined => (late.has(shard) ? 1 : from.get(shard));

  const opened = await Promise.allSettled(shards.map((shard) => openReplicaWatch(shardClient(t.env, ks, shard), filter, startAt(shard), { maxDurationMs, progressMs }, t.continent)));
  const failed = opened.findIndex((o) => o.status === 'rejected');
  if (failed >= 0) {
    for (const o of opened) if (o.status === 'fulfilled') o.value.cancel().catch(() => undefined);
    const e = (opened[failed] as PromiseRejectedResult).reason as unknown;
    if (e instanceof ApiError && e.code === 'compacted') {
      throw new ApiError(410, 'compacted', `shard ${shards[failed]}: revisions before ${String(e.details.first_revision)} are no longer in its watch history; read the current state and watch again`, {
        ...e.details,
        shard: shards[failed],
      });
    }
    throw e;
  }
  // A keyspace created at run time may grow: the connection ends when its map changes, and the client reconnects under the new one.
  const mapChanged =
    ks.kind === 'dynamic'
      ? async (): Promise<boolean> => {
          const now = await readKeyspace(t.env, name);
          if (now?.entry.map?.version === ks.map.version) return false;
          forgetKeyspace(name); // the reconnection routes by the catalog, not this isolate's cached map
          return true;
        }
      : null;
  return merge(
    shards.map((shard, i) => ({ shard, body: (opened[i] as PromiseFulfilledResult<ReadableStream<Uint8Array>>).value })),
    new WatchMerge(from, shards, late),
    mapChanged,
    progressMs,
  );
}

const encoder = new TextEncoder();

/** The shards' SSE streams as one, each shard's revisions forwarded whole with the cursor after them as `id:` (WatchMerge). */
function merge(
  sources: readonly { readonly shard: number; readonly body: ReadableStream<Uint8Array> }[],
  merging: WatchMerge,
  mapChanged: (() => Promise<boolean>) | null,
  everyMs: number,
): ReadableStream<Uint8Array> {
  const stop = new AbortController();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let done = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const end = (): void => {
    if (done) return;
    done = true;
    clearInterval(timer);
    stop.abort(); // every shard's reader cancels its stream: the replicas forget their watchers
    controller.close();
  };
  const check = async (): Promise<void> => {
    // A failed read of the catalog is not a change: the next interval reads again.
    if (await mapChanged!().catch(() => false)) end();
  };
  const send = (events: readonly KeyspaceWatchEvent[], cursor: string | null): void => {
    let out = '';
    events.forEach((e, i) => {
      if (cursor !== null && i === events.length - 1) out += `id: ${cursor}\n`;
      out += `data: ${JSON.stringify(e)}\n\n`;
    });
    controller.enqueue(encoder.encode(out));
    // A reader this far behind is cut off: it resumes from the last cursor it read.
    if ((controller.desiredSize ?? 0) < -WATCH_QUEUE_BYTES_MAX) end();
  };
  const pump = async (shard: number, body: ReadableStream<Uint8Array>): Promise<void> => {
    try {
      for await (const { data, id } of readSse<WatchEvent>(body, stop.signal)) {
        if (done) return;
        const out = merging.take(shard, data, id === null ? null : Number(id));
        if (!out) continue;
        send(out.events, out.cursor);
        if (out.end) break;
      }
    } catch {
      // The shard's connection broke (its replica stopped): the watch ends, and the client resumes from the cursor.
    }
    end();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        for (const s of sources) void pump(s.shard, s.body);
        if (mapChanged) timer = setInterval(() => void check(), everyMs);
      },
      cancel() {
        // The client went away: stop every shard's watch.
        done = true;
        clearInterval(timer);
        stop.abort();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
}
