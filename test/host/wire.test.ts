import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MessageSchema, WIRE_VERSION, unwrapBatch, validMessages, wireBatch } from '../../src/host/wire.ts';

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

  it('takes a batch tagged with our version after checking only sender, addressee and type, and drops other versions', () => {
    const ok = { type: 'heartbeat', from: 1, to: 2, ballot, decidedThrough: 4, readSeq: 0 };
    const odd = { ...ok, decidedThrough: -1 }; // our own typed code never builds it; the schema would refuse it
    const tagged = unwrapBatch(JSON.parse(JSON.stringify(wireBatch([ok, odd, { ...ok, to: 3 }, { ...ok, type: 'gossip' }] as never))));
    expect(validMessages(tagged, 1, 2)).toEqual([ok, odd]);
    // The same messages untagged (a peer running the code from before the tag) go through the schema.
    expect(validMessages(unwrapBatch([ok, odd]), 1, 2)).toEqual([ok]);
    expect(validMessages(unwrapBatch({ wire: WIRE_VERSION + 1, messages: [ok] }), 1, 2)).toEqual([]);
    expect(validMessages(unwrapBatch({ wire: WIRE_VERSION }), 1, 2)).toEqual([]);
  });

  it('pins the message schema to WIRE_VERSION: a change to the schema must bump it (and record the new fingerprint here)', () => {
    const schema = JSON.stringify(z.toJSONSchema(MessageSchema, { io: 'input', unrepresentable: 'any' }));
    const fingerprint = createHash('sha256').update(schema).digest('hex').slice(0, 16);
    expect({ WIRE_VERSION, fingerprint }).toEqual({ WIRE_VERSION: 1, fingerprint: '6edfdd685b3da83c' });
  });
});
