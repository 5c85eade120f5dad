import type { DurableState, PersistDelta } from '../core/index.ts';

/**
 * Restoring a snapshot into a new stream: its bootstrap replicas start from
 * the snapshot's state at `slot` instead of from an empty log.
 *
 * Why this is safe: every seeded replica holds the same state as its
 * decided, compacted prefix through `slot` (the same bytes: their SHA-256 is
 * part of the stream's definition, and each replica checks it), as if the
 * stream had decided those slots and then truncated its log. A bootstrap
 * replica that does not hold it yet (a `seed` the restore has not delivered,
 * e.g. the Worker died mid-restore) does nothing at all: it does not vote,
 * accept, campaign or answer peers until it is seeded. So no quorum ever
 * contains a replica that would disagree about slots through `slot`, and
 * slots after it are decided by seeded replicas only. A replica seeded late
 * catches up from there like any replica that was down. Replicas that never
 * were bootstrap replicas (added by a membership change) and rebuilt ones
 * (a later incarnation) start blank as learners and are caught up by the
 * leader's snapshot, as in any stream.
 */

/** Marks a replica that holds its seed (written after the seed itself, which also proves it: see needsSeed). */
export const SEEDED_META = 'seeded';

/** What the stream's definition says about its seed (`restore`). */
export interface SeedSpec {
  readonly slot: number;
  readonly sha256: string;
}

/**
 * Whether this bootstrap replica still waits for its seed: it was never
 * rebuilt (incarnation 1) and its compacted prefix does not reach the seed's
 * slot (a seeded one's does, and only grows).
 */
export function needsSeed(spec: SeedSpec, durable: Pick<DurableState, 'compactedThrough' | 'incarnation'>): boolean {
  return (durable.incarnation ?? 1) === 1 && (durable.compactedThrough ?? 0) < spec.slot;
}

/** The one transaction that seeds a blank replica: the snapshot as its decided, compacted prefix through `slot`. */
export function seedDelta(slot: number, data: string): PersistDelta {
  return { entries: [], decidedThrough: slot, compactThrough: slot, snapshot: { slot, data } };
}

/** SHA-256 of the UTF-8 bytes of `data`, in hex. */
export async function sha256Hex(data: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(data));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
