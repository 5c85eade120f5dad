import { type Ballot, type ReplicaId, formatBallot } from './ballot.ts';
import type { ConfigurationAt } from './configuration.ts';
import type { Snapshot } from './log.ts';
import type { InstallSnapshotMessage, Message } from './messages.ts';
import type { SnapshotSource } from './replica-options.ts';

// Snapshot shipping: an acceptor that needs slots the sender compacted gets
// the sender's latest snapshot instead, in pieces (Durable Object RPC messages
// are bounded in size), and installs it once every piece has arrived.

/** Characters per install-snapshot message unless the options say otherwise. */
export const DEFAULT_SNAPSHOT_CHUNK_CHARS = 1_000_000;

/** What shipping needs of the replica it runs in. */
export interface ShippingContext {
  readonly id: ReplicaId;
  /** Where the host's latest snapshot is (absent: none is ever sent). */
  readonly snapshots: SnapshotSource | undefined;
  readonly chunkChars: number;
  /** At most one snapshot per election timeout to each acceptor. */
  readonly electionTimeoutTicks: number;
  now(): number;
  /** The first slot still held as an entry. */
  firstSlot(): number;
  /** The configuration in effect after `slot` (the snapshot replaces the log that held it). */
  configurationAt(slot: number): ConfigurationAt;
  send(m: Message): void;
}

/** When a snapshot was last sent to one acceptor (-1: never). Progress (progress.ts) has one. */
export interface ShippingRecord {
  snapshotTick: number;
}

/**
 * Sends the host's latest snapshot to an acceptor, in pieces, at most once
 * per election timeout each: as a leader (to a lagging acceptor or an
 * outsider), or as an acceptor to a candidate that asked for slots it
 * compacted (`offerToCandidate`).
 */
export class SnapshotShipper {
  private readonly ctx: ShippingContext;
  /** Candidates we offered our snapshot to as an acceptor. */
  private readonly offers = new Map<ReplicaId, ShippingRecord>();

  constructor(ctx: ShippingContext) {
    this.ctx = ctx;
  }

  /** Whether the host has a snapshot newer than slot `after`. */
  hasSnapshotAfter(after: number): boolean {
    const snap = this.ctx.snapshots?.latest();
    return snap !== undefined && snap !== null && snap.slot > after;
  }

  /**
   * Send our latest snapshot to `to` at `ballot` (the leader's own), unless one
   * went to it within an election timeout or there is none covering the slots
   * we compacted (a host bug would show up as a stuck acceptor).
   */
  send(to: ReplicaId, record: ShippingRecord, ballot: Ballot, fromAcceptor = false): void {
    const ctx = this.ctx;
    const now = ctx.now();
    if (record.snapshotTick >= 0 && now - record.snapshotTick < ctx.electionTimeoutTicks) return;
    const snap = ctx.snapshots?.latest() ?? null;
    if (!snap || snap.slot < ctx.firstSlot() - 1) return; // nothing to send yet
    record.snapshotTick = now;
    const config = ctx.configurationAt(snap.slot);
    const size = ctx.chunkChars;
    const chunks = Math.max(1, Math.ceil(snap.data.length / size));
    for (let i = 0; i < chunks; i++) {
      const piece = { type: 'install-snapshot' as const, from: ctx.id, to, slot: snap.slot, chunk: i, chunks, data: snap.data.slice(i * size, (i + 1) * size), config };
      ctx.send(fromAcceptor ? { ...piece, ballot, fromAcceptor: true } : { ...piece, ballot });
    }
  }

  /**
   * As an acceptor: candidate `to` (campaigning at `ballot`) asked for slots we
   * compacted. It will step back; our snapshot lets it (or anyone it then
   * follows) go on: we may be the only one that has those slots, and unable to lead.
   */
  offerToCandidate(to: ReplicaId, ballot: Ballot): void {
    let record = this.offers.get(to);
    if (!record) this.offers.set(to, (record = { snapshotTick: -1 }));
    this.send(to, record, ballot, true);
  }
}

/** The pieces of one snapshot being received, keyed by the sender's ballot, the slot and the number of pieces. */
export class SnapshotAssembly {
  private incoming: { key: string; chunks: (string | undefined)[]; received: number } | null = null;

  /** Take one piece: the whole snapshot once every piece arrived, else null (a piece of another snapshot starts over). */
  receive(m: InstallSnapshotMessage): Snapshot | null {
    const key = `${formatBallot(m.ballot)}/${m.slot}/${m.chunks}`;
    if (this.incoming?.key !== key) this.incoming = { key, chunks: new Array<string | undefined>(m.chunks).fill(undefined), received: 0 };
    const inc = this.incoming;
    if (m.chunk < 0 || m.chunk >= m.chunks) return null;
    if (inc.chunks[m.chunk] === undefined) {
      inc.chunks[m.chunk] = m.data;
      inc.received += 1;
    }
    if (inc.received < m.chunks) return null;
    this.incoming = null;
    return { slot: m.slot, data: inc.chunks.join('') };
  }
}
