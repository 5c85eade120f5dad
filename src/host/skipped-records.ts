import type { Entry } from '../core/index.ts';
import type { KvResult } from '../kv/index.ts';
import type { ReplicaStorage } from './storage.ts';

/** The skipped record slots still in the log behind the latest snapshot. */
const SKIPPED_RECORDS_META = 'skipped-records';

/**
 * Slots holding an opaque record that was not appended: a retry that
 * repeated an earlier record's idempotency key, or a record refused because
 * its key was first used for a different request. Log reads skip them. The
 * host learns them as the runner applies entries (ReadyObserver.afterApply);
 * those behind the latest snapshot are stored (the log keeps `retainSlots`
 * there, and a restarted replica replays only what follows the snapshot).
 */
export class SkippedRecords {
  private readonly storage: ReplicaStorage;
  private readonly slots = new Set<number>();

  constructor(storage: ReplicaStorage) {
    this.storage = storage;
    const stored = storage.readMeta(SKIPPED_RECORDS_META);
    if (stored) for (const slot of JSON.parse(stored) as number[]) this.slots.add(slot);
  }

  has(slot: number): boolean {
    return this.slots.has(slot);
  }

  /** An entry was applied: a record is appended at its own slot; anything else (a retry's first result, a refusal) appended nothing. */
  noteApplied(e: Entry, result: KvResult): void {
    if (e.command.kind === 'opaque' && !(result.kind === 'opaque' && result.index === e.slot)) this.slots.add(e.slot);
  }

  /**
   * The log now starts at `firstSlot` and a snapshot through `snapshotSlot` is
   * about to be stored: keep the skipped slots from `firstSlot` on, storing
   * those up to the snapshot's slot (after a restart they are in the log but
   * not replayed). Stored before the snapshot's own transaction; a crash in
   * between leaves a superset, which replay would find again anyway.
   */
  compacted(firstSlot: number, snapshotSlot: number): void {
    for (const slot of this.slots) if (slot < firstSlot) this.slots.delete(slot);
    const behind = [...this.slots].filter((slot) => slot <= snapshotSlot).sort((a, b) => a - b);
    if (behind.length > 0 || this.storage.readMeta(SKIPPED_RECORDS_META)) this.storage.writeMeta(SKIPPED_RECORDS_META, JSON.stringify(behind));
  }
}
