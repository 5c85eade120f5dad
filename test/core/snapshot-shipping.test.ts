import { describe, expect, it } from 'vitest';
import { type InstallSnapshotMessage, type Message, type Snapshot, SnapshotAssembly, SnapshotShipper } from '../../src/core/index.ts';

// Snapshot shipping: the sender's latest snapshot in pieces, at most once per
// election timeout to each acceptor, and its reassembly.

const BALLOT = { round: 2, replicaId: 1 };
const CONFIG = { slot: 0, configuration: { members: [{ id: 1, role: 'electable' as const, priority: 0, weight: 1, group: 0 }], policy: {} } };

function shipper(snap: Snapshot | null, firstSlot = 11) {
  const sent: Message[] = [];
  let now = 0;
  const s = new SnapshotShipper({
    id: 1,
    snapshots: { latest: () => snap },
    chunkChars: 4,
    electionTimeoutTicks: 10,
    now: () => now,
    firstSlot: () => firstSlot,
    configurationAt: () => CONFIG,
    send: (m) => sent.push(m),
  });
  return { s, sent, tick: (n: number) => (now += n) };
}

describe('snapshot shipping', () => {
  it('sends the latest snapshot in pieces of chunkChars, at most once per election timeout to each acceptor', () => {
    const { s, sent, tick } = shipper({ slot: 10, data: 'abcdefghij' });
    const record = { snapshotTick: -1 };
    s.send(2, record, BALLOT);
    expect(sent.map((m) => (m as InstallSnapshotMessage).data)).toEqual(['abcd', 'efgh', 'ij']);
    expect(sent[0]).toMatchObject({ type: 'install-snapshot', to: 2, slot: 10, chunk: 0, chunks: 3, ballot: BALLOT, config: CONFIG });
    sent.length = 0;
    tick(9);
    s.send(2, record, BALLOT);
    expect(sent).toEqual([]);
    tick(1);
    s.send(2, record, BALLOT);
    expect(sent).toHaveLength(3);
  });

  it('sends nothing when no snapshot covers the compacted prefix', () => {
    const { s, sent } = shipper({ slot: 5, data: 'x' }, 11);
    s.send(2, { snapshotTick: -1 }, BALLOT);
    expect(sent).toEqual([]);
  });

  it('offers a candidate its snapshot as an acceptor, marked so that it makes nobody a leader', () => {
    const { s, sent } = shipper({ slot: 10, data: 'ab' });
    s.offerToCandidate(3, { round: 7, replicaId: 3 });
    s.offerToCandidate(3, { round: 7, replicaId: 3 }); // once per election timeout
    expect(sent).toEqual([expect.objectContaining({ to: 3, ballot: { round: 7, replicaId: 3 }, fromAcceptor: true })]);
  });

  it('reassembles the pieces in any order, ignores duplicates, and starts over on a piece of another snapshot', () => {
    const piece = (chunk: number, data: string, slot = 10): InstallSnapshotMessage => ({ type: 'install-snapshot', from: 1, to: 2, ballot: BALLOT, slot, chunk, chunks: 3, data, config: CONFIG });
    const a = new SnapshotAssembly();
    expect(a.receive(piece(2, 'ij'))).toBeNull();
    expect(a.receive(piece(2, 'ij'))).toBeNull();
    expect(a.receive(piece(0, 'abcd'))).toBeNull();
    expect(a.receive(piece(1, 'efgh'))).toEqual({ slot: 10, data: 'abcdefghij' });
    expect(a.receive(piece(0, 'abcd'))).toBeNull();
    expect(a.receive(piece(0, 'zz', 12))).toBeNull(); // another snapshot: the first one's pieces are dropped
    expect(a.receive(piece(1, 'efgh'))).toBeNull();
  });
});
