import { describe, expect, it } from 'vitest';
import { validMessages } from '../../src/host/wire.ts';

// What crosses Durable Object RPC between replicas is validated once, at the
// boundary; a peer still running the code from before the vocabulary change
// is understood.

const ballot = { round: 2, replicaId: 1 };

describe('wire', () => {
  it('keeps well-formed messages addressed from the sender to us, and drops the rest', () => {
    const ok = { type: 'heartbeat', from: 1, to: 2, ballot, decidedThrough: 4, readSeq: 0 };
    expect(validMessages([ok, { ...ok, to: 3 }, { ...ok, decidedThrough: -1 }, 'junk'], 1, 2)).toEqual([ok]);
    expect(validMessages({ not: 'an array' }, 1, 2)).toEqual([]);
  });

  it('reads the field names and the member role of the code before the vocabulary change', () => {
    const old = [
      { type: 'heartbeat', from: 1, to: 2, ballot, decidedIndex: 4, readSeq: 0, quiesce: true },
      {
        type: 'accept',
        from: 1,
        to: 2,
        ballot,
        firstSlot: 5,
        decidedIndex: 4,
        commands: [{ kind: 'config', id: 'c', configuration: { members: [{ id: 1, role: 'follower', priority: 0, weight: 1, group: 0 }], policy: {} } }],
      },
    ];
    expect(validMessages(old, 1, 2)).toEqual([
      { type: 'heartbeat', from: 1, to: 2, ballot, decidedThrough: 4, readSeq: 0, quiet: true },
      {
        type: 'accept',
        from: 1,
        to: 2,
        ballot,
        firstSlot: 5,
        decidedThrough: 4,
        commands: [{ kind: 'config', id: 'c', configuration: { members: [{ id: 1, role: 'electable', priority: 0, weight: 1, group: 0 }], policy: {} } }],
      },
    ]);
  });
});
