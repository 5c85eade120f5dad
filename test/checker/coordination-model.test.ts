import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command, TxnCompare, TxnOp } from '../../src/core/index.ts';
import { type KvResult, KvStateMachine } from '../../src/kv/index.ts';
import { type CoordInput, type CoordOperation, type CoordOutput, coordinationModel } from '../../sim/checker/coordination-model.ts';
import { checkLinearizability } from '../../sim/checker/linearizability.ts';

const check = (h: readonly CoordOperation[]) => checkLinearizability(coordinationModel, h);
const OK = { ok: true } as const;
const VIOLATION = { ok: false, reason: 'not-linearizable' } as const;

function op(clientId: number, input: CoordInput, call: number, ret: number, output: CoordOutput | undefined): CoordOperation {
  return { clientId, input, call, return: ret, output };
}

const put = (c: number, key: string, value: string, revision: number, call: number, ret: number, lease?: string) =>
  op(c, { kind: 'put', key, value, ...(lease ? { lease } : {}) }, call, ret, { kind: 'put', ok: true, revision });
const get = (c: number, key: string, value: string | null, revision: number, call: number, ret: number) =>
  op(c, { kind: 'get', key }, call, ret, value === null ? { kind: 'get', found: false } : { kind: 'get', found: true, value, revision });
const grant = (c: number, lease: string, call: number, ret: number) => op(c, { kind: 'lease-grant' }, call, ret, { kind: 'lease', lease });

/** Moves the token from `from` to `to` if `from` holds it, at `revision`. */
const move = (c: number, from: string, to: string, revision: number, call: number, ret: number) =>
  op(
    c,
    { kind: 'txn', compare: [{ key: from, target: 'value', op: '==', value: 'token' }], success: [{ delete: { key: from } }, { put: { key: to, value: 'token' } }], failure: [] },
    call,
    ret,
    { kind: 'txn', succeeded: true, revision, results: [{ kind: 'delete', deleted: 1 }, { kind: 'put', revision }] },
  );
/** Reads both keys in one transaction. */
const readBoth = (c: number, a: [string, number] | null, b: [string, number] | null, revision: number, call: number, ret: number) =>
  op(c, { kind: 'txn', compare: [], success: [{ get: { key: 'a' } }, { get: { key: 'b' } }], failure: [] }, call, ret, {
    kind: 'txn',
    succeeded: true,
    revision,
    results: [
      { kind: 'get', key: 'a', item: a ? { value: a[0], revision: a[1], createRevision: a[1] } : null },
      { kind: 'get', key: 'b', item: b ? { value: b[0], revision: b[1], createRevision: b[1] } : null },
    ],
  });

describe('coordination model: transactions', () => {
  it('accepts a transaction moving a token between keys and readers that see it on one side or the other', () => {
    const h = [put(1, 'a', 'token', 1, 1, 2), move(1, 'a', 'b', 3, 3, 10), readBoth(2, ['token', 1], null, 2, 4, 5), readBoth(3, null, ['token', 3], 4, 11, 12)];
    expect(check(h)).toEqual(OK);
    // A read decided after the move (a later slot) cannot see the token where it was.
    expect(check([...h.slice(0, 2), readBoth(2, ['token', 1], null, 4, 4, 5)])).toMatchObject(VIOLATION);
  });

  it('rejects a reader that sees a transaction half applied (the token on both sides)', () => {
    const h = [put(1, 'a', 'token', 1, 1, 2), move(1, 'a', 'b', 2, 3, 10), readBoth(2, ['token', 1], ['token', 2], 3, 4, 11)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects a transaction that reports success although one of its compares cannot hold', () => {
    const h = [put(1, 'a', 'x', 1, 1, 2), move(2, 'a', 'b', 2, 3, 4)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects a transaction at a slot below a completed write of a key it touches', () => {
    const h = [put(1, 'a', 'token', 5, 1, 2), move(2, 'a', 'b', 4, 3, 4)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('sees create revisions: they survive updates and start again after a delete', () => {
    const compareCreated = (c: number, created: number, succeeded: boolean, revision: number, call: number, ret: number) =>
      op(c, { kind: 'txn', compare: [{ key: 'a', target: 'create_revision', op: '==', value: created }], success: [], failure: [] }, call, ret, { kind: 'txn', succeeded, revision, results: [] });
    const ok = [put(1, 'a', 'x', 1, 1, 2), put(1, 'a', 'y', 2, 3, 4), compareCreated(1, 1, true, 3, 5, 6)];
    expect(check(ok)).toEqual(OK);
    expect(check([...ok.slice(0, 2), compareCreated(1, 2, true, 3, 5, 6)])).toMatchObject(VIOLATION);
  });
});

describe('coordination model: leases', () => {
  const L = '0000000000000001';
  const revoke = (keys: string[], revision: number, call: number, ret: number) => op(1, { kind: 'lease-revoke', lease: L }, call, ret, { kind: 'lease-ended', keys, revision });
  const expire = (keys: string[], revision: number, call: number, ret: number) => op(0, { kind: 'lease-expire', lease: L }, call, ret, { kind: 'lease-ended', keys, revision });

  it('accepts a lease ending by expiry (an operation of the cluster) with exactly its keys, after which they are gone', () => {
    const h = [grant(1, L, 1, 2), put(1, 'k', 'v', 2, 3, 4, L), put(2, 'other', 'v', 3, 5, 6), expire(['k'], 4, 7, 8), get(2, 'k', null, 0, 9, 10), get(2, 'other', 'v', 3, 11, 12)];
    expect(check(h)).toEqual(OK);
  });

  it('rejects a key still there after its lease ended, and an end that lists the wrong keys', () => {
    const base = [grant(1, L, 1, 2), put(1, 'k', 'v', 2, 3, 4, L)];
    expect(check([...base, expire(['k'], 4, 5, 6), get(2, 'k', 'v', 2, 7, 8)])).toMatchObject(VIOLATION);
    expect(check([...base, revoke([], 4, 5, 6)])).toMatchObject(VIOLATION);
    expect(check([...base, put(2, 'j', 'v', 3, 5, 6), revoke(['j', 'k'], 4, 7, 8)])).toMatchObject(VIOLATION);
  });

  it('rejects a put refused for an unknown lease while that lease is live, and a keep-alive of a lease that ended', () => {
    const refused = op(2, { kind: 'put', key: 'k', value: 'v', lease: L }, 3, 4, { kind: 'rejected', code: 'lease_not_found' });
    expect(check([grant(1, L, 1, 2), refused])).toMatchObject(VIOLATION);
    expect(check([refused])).toEqual(OK);
    const kept = op(2, { kind: 'lease-keepalive', lease: L }, 5, 6, { kind: 'lease', lease: L });
    expect(check([grant(1, L, 1, 2), kept])).toEqual(OK);
    expect(check([grant(1, L, 1, 2), revoke([], 3, 3, 4), kept])).toMatchObject(VIOLATION);
  });

  it('moves a key between leases: the old lease no longer takes it with it', () => {
    const M = '0000000000000002';
    const h = [grant(1, L, 1, 2), grant(1, M, 3, 4), put(1, 'k', 'a', 3, 5, 6, L), put(1, 'k', 'b', 4, 7, 8, M), revoke([], 5, 9, 10), get(2, 'k', 'b', 4, 11, 12)];
    expect(check(h)).toEqual(OK);
  });
});

// --- the real state machine as the reference ----------------------------------

interface Planned {
  readonly kind: 'put' | 'cas' | 'get' | 'delete' | 'cad' | 'txn' | 'grant' | 'keepalive' | 'revoke' | 'expire';
  readonly key: number;
  readonly other: number;
  readonly pick: number;
  readonly withLease: boolean;
  readonly gap: number;
  readonly fate: 'known' | 'applied' | 'lost';
  readonly widenBefore: number;
  readonly widenAfter: number;
}

const planned: fc.Arbitrary<Planned> = fc.record({
  kind: fc.constantFrom<Planned['kind']>('put', 'put', 'cas', 'get', 'get', 'delete', 'cad', 'txn', 'txn', 'txn', 'grant', 'keepalive', 'revoke', 'expire'),
  key: fc.nat(2),
  other: fc.nat(2),
  pick: fc.nat(5),
  withLease: fc.boolean(),
  gap: fc.nat(2),
  fate: fc.constantFrom<Planned['fate']>('known', 'known', 'known', 'known', 'known', 'applied', 'lost'),
  widenBefore: fc.nat(3),
  widenAfter: fc.nat(3),
});

/** The checker's view of a state machine result. */
function toOutput(r: KvResult): CoordOutput {
  switch (r.kind) {
    case 'put':
      return r.ok ? { kind: 'put', ok: true, revision: r.revision } : { kind: 'put', ok: false, currentRevision: r.currentRevision };
    case 'delete':
      return { kind: 'delete', deleted: r.deleted, revision: r.revision };
    case 'txn':
      return {
        kind: 'txn',
        succeeded: r.succeeded,
        revision: r.revision,
        results: r.results.map((x) =>
          x.kind === 'get' ? { kind: 'get', key: x.key, item: x.item ? { value: x.item.value, revision: x.item.revision, createRevision: x.item.createRevision } : null } : x,
        ),
      };
    case 'lease':
      return { kind: 'lease', lease: r.lease };
    case 'lease-ended':
      return { kind: 'lease-ended', keys: r.keys, revision: r.revision };
    case 'lease-kept':
      return { kind: 'lease-kept' };
    case 'rejected':
      if (r.code === 'lease_not_found') return { kind: 'rejected', code: 'lease_not_found' };
      if (r.code === 'revision_mismatch') return { kind: 'rejected', code: 'revision_mismatch', currentRevision: r.currentRevision };
      throw new Error(`unexpected rejection ${r.code}`);
    default:
      throw new Error(`unexpected result ${r.kind}`);
  }
}

/**
 * Runs the plan one operation at a time on the real KvStateMachine (slots
 * with gaps of no-ops), recording each in its own time window; `lost`
 * operations never reach it, `applied` ones do but their client never learns
 * the result.
 */
function runOnStateMachine(plan: readonly Planned[], widen: boolean): CoordOperation[] {
  const sm = new KvStateMachine();
  const leases: string[] = [];
  const history: CoordOperation[] = [];
  plan.forEach((p, i) => {
    const key = `k${p.key}`;
    const other = `k${p.other}`;
    const lease = leases.length > 0 ? leases[p.pick % leases.length] : '00000000000000ff';
    const cur = sm.get(key);
    const curRev = cur?.revision ?? 0;
    let input: CoordInput;
    let command: Command | null;
    const id = `c${i}`;
    switch (p.kind) {
      case 'get':
        input = { kind: 'get', key };
        command = null;
        break;
      case 'put':
      case 'cas': {
        const ifRevision = p.kind === 'cas' ? [curRev, 0, curRev + 1, curRev, 1, curRev][p.pick]! : undefined;
        input = { kind: 'put', key, value: `v${i}`, ...(ifRevision !== undefined ? { ifRevision } : {}), ...(p.withLease ? { lease: lease! } : {}) };
        command = { kind: 'put', id, key, value: `v${i}`, ...(ifRevision !== undefined ? { ifRevision } : {}), ...(p.withLease ? { lease: lease! } : {}) };
        break;
      }
      case 'delete':
      case 'cad': {
        const ifRevision = p.kind === 'cad' ? [curRev, 0, curRev + 1, curRev, 1, curRev][p.pick]! : undefined;
        input = { kind: 'delete', key, ...(ifRevision !== undefined ? { ifRevision } : {}) };
        command = { kind: 'delete', id, key, ...(ifRevision !== undefined ? { ifRevision } : {}) };
        break;
      }
      case 'txn': {
        const compare: TxnCompare[] = [
          [{ key, target: 'revision', op: '==', value: curRev }],
          [{ key, target: 'value', op: '==', value: cur?.value ?? 'none' }],
          [{ key: other, target: 'create_revision', op: '>', value: 0 }],
          [],
          [{ key, target: 'revision', op: '<', value: p.gap + 3 }],
          [{ key, target: 'value', op: '!=', value: `v${i - 1}` }],
        ][p.pick]! as TxnCompare[];
        const writes: TxnOp[] = key === other ? [{ put: { key, value: `v${i}`, ...(p.withLease ? { lease: lease! } : {}) } }] : [{ put: { key, value: `v${i}` } }, { delete: { key: other } }];
        const success: TxnOp[] = [...writes, { get: { key } }];
        const failure: TxnOp[] = p.gap === 0 ? [{ deletePrefix: { prefix: 'k' } }] : [{ get: { key: other } }];
        input = { kind: 'txn', compare, success, failure };
        command = { kind: 'txn', id, compare, success, failure };
        break;
      }
      case 'grant':
        input = { kind: 'lease-grant' };
        command = { kind: 'lease-grant', id, ttlMs: 1000 };
        break;
      case 'keepalive':
        input = { kind: 'lease-keepalive', lease: lease! };
        command = { kind: 'lease-keepalive', id, lease: lease! };
        break;
      case 'revoke':
        input = { kind: 'lease-revoke', lease: lease! };
        command = { kind: 'lease-revoke', id, lease: lease! };
        break;
      case 'expire':
        input = { kind: 'lease-expire', lease: lease! };
        command = { kind: 'lease-expire', id, lease: lease!, refreshedAt: sm.lease(lease!)?.refreshedAt ?? 1 };
        break;
    }
    let output: CoordOutput;
    if (command === null) {
      output = cur ? { kind: 'get', found: true, value: cur.value, revision: cur.revision, createRevision: cur.createRevision } : { kind: 'get', found: false };
    } else {
      for (let g = 0; g < p.gap; g++) sm.apply(sm.appliedThrough + 1, { kind: 'noop' });
      if (p.fate === 'lost') {
        output = { kind: 'lease-kept' }; // never recorded with an output
      } else {
        const r = sm.apply(sm.appliedThrough + 1, command);
        if (r.kind === 'lease' && command.kind === 'lease-grant' && p.fate === 'known') leases.push(r.lease);
        output = toOutput(r);
      }
    }
    const tie = (i + 1) / 10_000;
    const call = 100 * (i - (widen ? p.widenBefore : 0)) + 1 + tie;
    const ret = 100 * (i + (widen ? p.widenAfter : 0)) + 2 + tie;
    // A lost grant's id was never learned; nothing below names it.
    if (p.fate === 'known' || command === null) history.push(op(i % 5, input, call, ret, output));
    else history.push(op(i % 5, input, call, Infinity, undefined));
  });
  return history;
}

describe('coordination model: against the real state machine', () => {
  it('judges every history of a sequential run on the real state machine linearizable, with or without widened intervals', () => {
    fc.assert(
      fc.property(fc.array(planned, { maxLength: 40 }), fc.boolean(), (plan, widen) => {
        const verdict = check(runOnStateMachine(plan, widen));
        expect(verdict.ok, verdict.ok ? '' : verdict.explanation).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('judges such a run not linearizable once one read (a get, or a get inside a transaction) returns a value never written', () => {
    let caught = 0;
    fc.assert(
      fc.property(fc.array(planned, { minLength: 1, maxLength: 40 }), fc.boolean(), fc.nat(), (plan, widen, pick) => {
        const history = runOnStateMachine(plan, widen);
        const reads = history.flatMap((o, i) => {
          if (o.output?.kind === 'get' && o.output.found) return [i];
          if (o.output?.kind === 'txn' && o.output.results.some((r) => r.kind === 'get' && r.item)) return [i];
          return [];
        });
        fc.pre(reads.length > 0);
        const at = reads[pick % reads.length]!;
        const victim = history[at]!;
        let corrupted: CoordOutput;
        if (victim.output!.kind === 'get') corrupted = { ...victim.output!, value: 'never-written' } as CoordOutput;
        else {
          const t = victim.output as Extract<CoordOutput, { kind: 'txn' }>;
          const j = t.results.findIndex((r) => r.kind === 'get' && r.item);
          corrupted = { ...t, results: t.results.map((r, k) => (k === j && r.kind === 'get' && r.item ? { ...r, item: { ...r.item, value: 'never-written' } } : r)) };
        }
        const verdict = check(history.map((o, i) => (i === at ? { ...o, output: corrupted } : o)));
        expect(verdict).toMatchObject(VIOLATION);
        caught++;
      }),
      { numRuns: 300 },
    );
    expect(caught).toBeGreaterThan(100);
  });
});
