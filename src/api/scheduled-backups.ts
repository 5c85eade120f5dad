import { BINDING } from './grants.ts';
import { snapshotDocument } from './backup.ts';
import { visibleStreams } from './catalog.ts';
import { logEvent } from '../host/log.ts';

/** Backups kept per stream when EDGEPAXOS_BACKUP_KEEP does not say. */
const KEEP_DEFAULT = 7;
export const BACKUP_PREFIX = 'edgepaxos/';

/**
 * Scheduled backups (a cron trigger; docs/operations.md): with an R2 bucket
 * bound as BACKUPS, every stream's snapshot (the same document as GET
 * /v1/streams/{stream}/snapshot) is stored as
 * `edgepaxos/<stream>/<time>-slot<slot>.snapshot.json`, and only the newest
 * EDGEPAXOS_BACKUP_KEEP of each stream are kept; EDGEPAXOS_BACKUP_STREAMS
 * (names, comma-separated) limits it to those streams. Without the binding it
 * does nothing. A stream that cannot be saved now (no leader) is logged and
 * skipped; the others are saved.
 */
export async function scheduledBackups(env: Cloudflare.Env): Promise<{ saved: string[]; failed: string[] }> {
  const bucket = env.BACKUPS;
  if (!bucket) return { saved: [], failed: [] };
  const keep = Math.max(1, Number.parseInt(env.EDGEPAXOS_BACKUP_KEEP ?? '', 10) || KEEP_DEFAULT);
  const only = env.EDGEPAXOS_BACKUP_STREAMS ? new Set(env.EDGEPAXOS_BACKUP_STREAMS.split(',').map((n) => n.trim())) : null;
  const { streams } = await visibleStreams(env, BINDING);
  const saved: string[] = [];
  const failed: string[] = [];
  for (const s of streams) {
    if (!s.client || (only && !only.has(s.name))) continue; // being deleted or restored, or not asked for
    try {
      const doc = await snapshotDocument({ env, principal: BINDING, client: s.client });
      const key = `${BACKUP_PREFIX}${s.name}/${doc.created_at.replace(/[:.]/g, '-')}-slot${doc.slot}.snapshot.json`;
      await bucket.put(key, JSON.stringify(doc), {
        httpMetadata: { contentType: 'application/json' },
        customMetadata: { stream: s.name, slot: String(doc.slot), sha256: doc.sha256 },
      });
      saved.push(key);
      logEvent({ event: 'backup_saved', stream: s.name, key, slot: doc.slot, bytes: doc.bytes, sha256: doc.sha256 });
      await prune(bucket, `${BACKUP_PREFIX}${s.name}/`, keep);
    } catch (e) {
      failed.push(s.name);
      logEvent({ event: 'backup_failed', stream: s.name, why: e instanceof Error ? e.message : String(e) });
    }
  }
  return { saved, failed };
}

/** Delete all but the newest `keep` objects under `prefix` (keys sort by time). */
async function prune(bucket: R2Bucket, prefix: string, keep: number): Promise<void> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  keys.sort();
  const old = keys.slice(0, Math.max(0, keys.length - keep));
  if (old.length > 0) await bucket.delete(old);
}
