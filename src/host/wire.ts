import { z } from 'zod';
import type { Message } from '../core/index.ts';
import { fromDcfRole } from './dcf.ts';
import { REGIONS } from './regions.ts';

/**
 * Schemas for what crosses Durable Object RPC between replicas. Peers are our
 * own code, but a message is still validated once, here, at the boundary: a
 * malformed one (a bug elsewhere, a version mismatch) is dropped like a lost
 * message instead of reaching the core.
 */
const id = z.number().int().min(0);
/** A log position: slots start at 1. */
const slot = z.number().int().min(1);
/** A count of decided or compacted slots: 0 when none. */
const index = z.number().int().min(0);
const ballot = z.object({ round: z.number().int().min(0), replicaId: id });
const str = z.string();
/** Thrifty replication's round-trip stamp: the leader's tick, echoed by the answer. */
const tick = z.number().int().min(0).optional();

const member = z.object({
  id: z.number().int().min(1),
  // 'follower': a peer running the code from before the core called that role 'electable' (dcf.ts).
  role: z.enum(['electable', 'logger', 'passive', 'follower']).transform(fromDcfRole),
  priority: z.number().int().min(0),
  weight: z.number().int().min(1),
  group: z.number().int().min(0),
  region: str.optional(),
  incarnation: z.number().int().min(1).optional(),
});
const configuration = z.object({
  members: z.array(member).min(1).max(100),
  policy: z.object({
    requireGroups: z.array(z.number().int().min(0)).optional(),
    requireRegions: z.array(str).optional(),
    phase1Weight: z.number().int().min(1).optional(),
    phase2Weight: z.number().int().min(1).optional(),
  }),
});

const revision = z.number().int().min(0);
const txnOp = z.union([
  z.object({ put: z.object({ key: str, value: str, lease: str.optional(), ignoreLease: z.boolean().optional() }) }),
  z.object({ delete: z.object({ key: str }) }),
  z.object({ deletePrefix: z.object({ prefix: str }) }),
  z.object({ get: z.object({ key: str }) }),
]);
const txnCompare = z.object({
  key: str,
  target: z.enum(['revision', 'create_revision', 'value']),
  op: z.enum(['==', '!=', '<', '>']),
  value: z.union([z.number(), str]),
});

const mapVersion = z.number().int().min(1);
const hashBound = z.number().int().min(0).max(0x1_0000_0000);
const hashRange = z.object({ from: hashBound, to: hashBound });
const origin = z.enum(REGIONS);
const txnOutcome = z.enum(['commit-success', 'commit-failure', 'abort']);

const command = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('noop') }),
  z.object({
    kind: z.literal('put'),
    id: str,
    key: str,
    value: str,
    ifRevision: revision.optional(),
    lease: str.optional(),
    idempotencyKey: str.optional(),
    mapVersion: mapVersion.optional(),
    origin: origin.optional(),
  }),
  z.object({ kind: z.literal('delete'), id: str, key: str, ifRevision: revision.optional(), idempotencyKey: str.optional(), mapVersion: mapVersion.optional(), origin: origin.optional() }),
  z.object({ kind: z.literal('txn'), id: str, compare: z.array(txnCompare), success: z.array(txnOp), failure: z.array(txnOp), idempotencyKey: str.optional(), mapVersion: mapVersion.optional(), origin: origin.optional() }),
  z.object({ kind: z.literal('shard-assign'), id: str, keyspace: str, shard: z.number().int().min(0), version: mapVersion, ranges: z.array(hashRange), incoming: z.array(hashRange).optional() }),
  z.object({ kind: z.literal('shard-export'), id: str, version: mapVersion, from: hashBound, to: hashBound, after: z.string().nullable(), limit: z.number().int().min(1).optional() }),
  z.object({ kind: z.literal('shard-install'), id: str, version: mapVersion, items: z.array(z.tuple([str, z.string()])), revisionFloor: z.number().int().min(0) }),
  z.object({ kind: z.literal('shard-ready'), id: str, version: mapVersion, from: hashBound, to: hashBound }),
  z.object({ kind: z.literal('shard-drop'), id: str, version: mapVersion, from: hashBound, to: hashBound }),
  z.object({
    kind: z.literal('txn-prepare'),
    id: str,
    txid: str,
    coordinator: str,
    deadlineMs: z.number().int().min(0),
    mapVersion,
    compare: z.array(txnCompare),
    success: z.array(txnOp),
    failure: z.array(txnOp),
    idempotencyKey: str.optional(),
    origin: origin.optional(),
  }),
  z.object({ kind: z.literal('txn-decide'), id: str, txid: str, outcome: txnOutcome.nullable() }),
  z.object({ kind: z.literal('txn-resolve'), id: str, txid: str, outcome: txnOutcome }),
  z.object({ kind: z.literal('txn-forget'), id: str, txid: str }),
  z.object({ kind: z.literal('lease-grant'), id: str, ttlMs: z.number().int().min(1), idempotencyKey: str.optional() }),
  z.object({ kind: z.literal('lease-keepalive'), id: str, lease: str, keyPrefixes: z.array(str).optional(), idempotencyKey: str.optional() }),
  z.object({ kind: z.literal('lease-revoke'), id: str, lease: str, keyPrefixes: z.array(str).optional(), idempotencyKey: str.optional() }),
  z.object({ kind: z.literal('lease-expire'), id: str, lease: str, refreshedAt: z.number().int().min(1) }),
  z.object({ kind: z.literal('opaque'), id: str, data: str, idempotencyKey: str.optional() }),
  z.object({ kind: z.literal('config'), id: str, configuration }),
]);

const envelope = { from: id, to: id, epoch: z.number().int().min(0).optional(), toIncarnation: z.number().int().min(1).optional(), fromIncarnation: z.number().int().min(1).optional() };

export const MessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pre-vote'), ...envelope, ballot, decidedThrough: index }),
  z.object({ type: z.literal('pre-vote-reply'), ...envelope, ballot, granted: z.boolean(), promised: ballot }),
  z.object({ type: z.literal('prepare'), ...envelope, ballot, fromSlot: slot }),
  z.object({
    type: z.literal('promise'),
    ...envelope,
    ballot,
    fromSlot: slot,
    decidedThrough: index,
    entries: z.array(z.object({ slot, ballot, command, decided: z.boolean() })),
    compactedThrough: index,
  }),
  z.object({ type: z.literal('accept'), ...envelope, ballot, firstSlot: slot, commands: z.array(command), decidedThrough: index, tick }),
  z.object({ type: z.literal('accepted'), ...envelope, ballot, firstSlot: slot, lastSlot: slot, decidedThrough: index, tick }),
  z.object({ type: z.literal('heartbeat'), ...envelope, ballot, decidedThrough: index, readSeq: z.number().int().min(0), quiet: z.boolean().optional(), tick }),
  z.object({ type: z.literal('heartbeat-reply'), ...envelope, ballot, decidedThrough: index, readSeq: z.number().int().min(0), tick }),
  z.object({ type: z.literal('nack'), ...envelope, ballot, promised: ballot }),
  z.object({ type: z.literal('timeout-now'), ...envelope, ballot, manual: z.boolean() }),
  z.object({ type: z.literal('fenced'), ...envelope }),
  z.object({
    type: z.literal('install-snapshot'),
    ...envelope,
    ballot,
    slot,
    chunk: z.number().int().min(0),
    chunks: z.number().int().min(1).max(100_000),
    data: str,
    config: z.object({ slot: index, configuration }),
    fromAcceptor: z.boolean().optional(),
  }).refine((m) => m.chunk < m.chunks, 'chunk must be below chunks'),
]);

/**
 * A message from a peer still running the code from before the vocabulary
 * change, with its field names of then (`decidedIndex`, `quiesce`) renamed to
 * today's; any other message as it is. Messages the other way are not
 * understood by such a peer until it runs this code too: a deploy replaces
 * every replica's code, and meanwhile they are lost messages, which the
 * protocol retransmits.
 */
function withCurrentNames(m: unknown): unknown {
  if (typeof m !== 'object' || m === null || !('decidedIndex' in m || 'quiesce' in m)) return m;
  const { decidedIndex, quiesce, ...rest } = m as Record<string, unknown>;
  return {
    ...rest,
    ...(decidedIndex !== undefined && !('decidedThrough' in rest) ? { decidedThrough: decidedIndex } : {}),
    ...(quiesce !== undefined && !('quiet' in rest) ? { quiet: quiesce } : {}),
  };
}

/**
 * The version of the messages' shape, sent with every batch (`WireBatch`). A
 * batch tagged with ours comes from a replica running this code, whose typed
 * core built it: the receiver checks only who it is from and to and that each
 * is a message at all, and spends no schema validation on it (it was 2-3 % of
 * a write's CPU on one workerd thread). Anything else — an untagged array (a
 * peer running the code from before the tag) or another version — goes
 * through the schema, or is dropped. Bump it with any change to
 * `MessageSchema`: test/host/wire.test.ts pins the schema's fingerprint to it.
 */
export const WIRE_VERSION = 1;

/** What goes over DO RPC between replicas, both ways: the messages and the version of their shape. */
export interface WireBatch {
  readonly wire: number;
  readonly messages: readonly Message[];
}

export function wireBatch(messages: readonly Message[]): WireBatch {
  return { wire: WIRE_VERSION, messages };
}

/** Arrays of messages unwrapped from a batch tagged with our version (see `unwrapBatch`). */
const sameVersion = new WeakSet<object>();

/**
 * What arrived over DO RPC, ready for `validMessages`: the messages of a batch
 * tagged with our version (remembered as such), or whatever else it was.
 */
export function unwrapBatch(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const b = raw as { wire?: unknown; messages?: unknown };
  if (b.wire !== WIRE_VERSION || !Array.isArray(b.messages)) return null; // another version: nothing we can read
  sameVersion.add(b.messages);
  return b.messages;
}

const TYPES: ReadonlySet<string> = new Set(MessageSchema.options.map((o) => o.shape.type.value));

/** The messages of a batch that are well-formed and addressed from `from` to `to`; the rest are dropped. */
export function validMessages(raw: unknown, from: number, to: number): Message[] {
  if (!Array.isArray(raw)) return [];
  const out: Message[] = [];
  if (sameVersion.has(raw)) {
    for (const m of raw as unknown[]) {
      if (typeof m !== 'object' || m === null) continue;
      const x = m as { type?: unknown; from?: unknown; to?: unknown };
      if (x.from === from && x.to === to && typeof x.type === 'string' && TYPES.has(x.type)) out.push(m as Message);
    }
    return out;
  }
  for (const m of raw) {
    const parsed = MessageSchema.safeParse(withCurrentNames(m));
    if (parsed.success && parsed.data.from === from && parsed.data.to === to) out.push(parsed.data as Message);
  }
  return out;
}
