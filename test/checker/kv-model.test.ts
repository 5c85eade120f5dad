import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { checkLinearizability } from '../../sim/checker/linearizability.ts';
import {
  describeKvOperation,
  keyExpired,
  keySubsumes,
  kvModel,
  stepKey,
  type KvInput,
  type KvKeyState,
  type KvOperation,
  type KvOutput,
} from '../../sim/checker/kv-model.ts';

// --- history builders --------------------------------------------------------

function op(clientId: number, input: KvInput, call: number, ret: number, output: KvOutput | undefined): KvOperation {
  return { clientId, input, call, return: ret, output };
}
const putIn = (key: string, value: string, ifRevision?: number): KvInput =>
  ifRevision === undefined ? { kind: 'put', key, value } : { kind: 'put', key, value, ifRevision };

/** put that succeeded at `revision` */
const put = (c: number, key: string, value: string, revision: number, call: number, ret: number): KvOperation =>
  op(c, putIn(key, value), call, ret, { kind: 'put', ok: true, revision });
/** compare-and-set that succeeded at `revision` */
const casOk = (c: number, key: string, value: string, ifRev: number, revision: number, call: number, ret: number) =>
  op(c, putIn(key, value, ifRev), call, ret, { kind: 'put', ok: true, revision });
/** compare-and-set that failed, reporting `currentRevision` */
const casFail = (c: number, key: string, value: string, ifRev: number, currentRevision: number, call: number, ret: number) =>
  op(c, putIn(key, value, ifRev), call, ret, { kind: 'put', ok: false, currentRevision });
/** write (put, CAS) whose outcome the client never learned */
const putUnknown = (c: number, key: string, value: string, call: number, ifRev?: number) =>
  op(c, putIn(key, value, ifRev), call, Infinity, undefined);
const get = (c: number, key: string, value: string, revision: number, call: number, ret: number) =>
  op(c, { kind: 'get', key }, call, ret, { kind: 'get', found: true, value, revision });
const getMissing = (c: number, key: string, call: number, ret: number) =>
  op(c, { kind: 'get', key }, call, ret, { kind: 'get', found: false });
const del = (c: number, key: string, deleted: boolean, revision: number, call: number, ret: number) =>
  op(c, { kind: 'delete', key }, call, ret, { kind: 'delete', deleted, revision });
const delUnknown = (c: number, key: string, call: number) => op(c, { kind: 'delete', key }, call, Infinity, undefined);

const OK = { ok: true } as const;
const VIOLATION = { ok: false, reason: 'not-linearizable' } as const;
const check = (h: readonly KvOperation[]) => checkLinearizability(kvModel, h);

// --- known linearizable histories -------------------------------------------

describe('kvModel: linearizable histories are accepted', () => {
  it('accepts a sequential history of puts, gets and deletes', () => {
    const h = [
      getMissing(1, 'k1', 1, 2),
      put(1, 'k1', 'a', 1, 3, 4),
      get(2, 'k1', 'a', 1, 5, 6),
      put(2, 'k1', 'b', 2, 7, 8),
      get(1, 'k1', 'b', 2, 9, 10),
      del(1, 'k1', true, 3, 11, 12),
      getMissing(2, 'k1', 13, 14),
      del(2, 'k1', false, 4, 15, 16),
    ];
    expect(check(h)).toEqual(OK);
  });

  it('accepts a get overlapping a put whether it sees the old or the new value', () => {
    const before = [put(1, 'k1', 'a', 1, 1, 2), put(1, 'k1', 'b', 2, 3, 10)];
    expect(check([...before, get(2, 'k1', 'a', 1, 4, 5)])).toEqual(OK);
    expect(check([...before, get(2, 'k1', 'b', 2, 4, 5)])).toEqual(OK);
  });

  it('accepts a get overlapping the first put seeing the key absent', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 10), getMissing(2, 'k1', 2, 3), get(2, 'k1', 'a', 1, 11, 12)])).toEqual(OK);
  });

  it('accepts a race of two compare-and-sets on the same revision where exactly one wins', () => {
    const base = put(1, 'k1', 'a', 1, 1, 2);
    expect(check([base, casOk(2, 'k1', 'b', 1, 2, 3, 6), casFail(3, 'k1', 'c', 1, 2, 4, 7), get(1, 'k1', 'b', 2, 8, 9)])).toEqual(OK);
    expect(check([base, casFail(2, 'k1', 'b', 1, 2, 3, 6), casOk(3, 'k1', 'c', 1, 2, 4, 7), get(1, 'k1', 'c', 2, 8, 9)])).toEqual(OK);
  });

  it('accepts a compare-and-set on revision 0 that creates an absent key', () => {
    expect(check([casOk(1, 'k1', 'a', 0, 4, 1, 2), casFail(2, 'k1', 'b', 0, 4, 3, 4), get(1, 'k1', 'a', 4, 5, 6)])).toEqual(OK);
  });

  it('accepts a delete followed by a get that finds nothing', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), del(2, 'k1', true, 2, 3, 4), getMissing(3, 'k1', 5, 6)])).toEqual(OK);
  });

  it('accepts gaps between slots and a failed compare that does not advance the floor', () => {
    const h = [put(1, 'k1', 'a', 3, 1, 2), casFail(2, 'k1', 'x', 9, 3, 3, 4), put(1, 'k1', 'b', 4, 5, 6), get(2, 'k1', 'b', 4, 7, 8)];
    expect(check(h)).toEqual(OK);
  });

  it('accepts an unknown-outcome put that a later get shows took effect', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'x', 3), get(1, 'k1', 'a', 1, 4, 5), get(3, 'k1', 'x', 7, 10, 11)];
    expect(check(h)).toEqual(OK);
  });

  it('accepts an unknown-outcome put that never shows up', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'x', 3), get(1, 'k1', 'a', 1, 4, 5), put(1, 'k1', 'b', 2, 6, 7), get(3, 'k1', 'b', 2, 10, 11)];
    expect(check(h)).toEqual(OK);
  });

  it('accepts an unknown-outcome compare-and-set whether or not it took effect', () => {
    const base = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'b', 3, 1)];
    expect(check([...base, get(3, 'k1', 'b', 5, 10, 11)])).toEqual(OK);
    expect(check([...base, get(3, 'k1', 'a', 1, 10, 11)])).toEqual(OK);
    // It lost the race: another compare on the same revision won.
    expect(check([...base, casOk(3, 'k1', 'c', 1, 4, 5, 6), get(3, 'k1', 'c', 4, 10, 11)])).toEqual(OK);
  });

  it('accepts a compare-and-set that matches the revision an unknown-outcome put later turns out to have', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'x', 3), casOk(3, 'k1', 'y', 6, 8, 10, 11), get(1, 'k1', 'y', 8, 12, 13)];
    expect(check(h)).toEqual(OK);
  });

  it('accepts an unknown-outcome delete that a later get shows took effect', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), delUnknown(2, 'k1', 3), getMissing(1, 'k1', 5, 6)])).toEqual(OK);
  });

  it('keeps keys independent', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), put(2, 'k2', 'b', 2, 3, 4), get(1, 'k1', 'a', 1, 5, 6), getMissing(2, 'k3', 7, 8)];
    expect(check(h)).toEqual(OK);
  });
});

// --- known non-linearizable histories ---------------------------------------

describe('kvModel: non-linearizable histories are rejected', () => {
  it('rejects a stale read after a completed put', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), put(1, 'k1', 'b', 2, 3, 4), get(2, 'k1', 'a', 1, 5, 6)])).toMatchObject(VIOLATION);
  });

  it('rejects a read of the older value after an earlier non-overlapping read saw the newer one', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), put(1, 'k1', 'b', 2, 3, 20), get(2, 'k1', 'b', 2, 4, 5), get(3, 'k1', 'a', 1, 6, 7)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects two compare-and-sets on the same revision that both succeed', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), casOk(2, 'k1', 'b', 1, 2, 3, 6), casOk(3, 'k1', 'c', 1, 3, 4, 7)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects a put whose revision is lower than a previously completed put on the same key', () => {
    expect(check([put(1, 'k1', 'a', 5, 1, 2), put(2, 'k1', 'b', 3, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a put reusing the revision of a previously completed put', () => {
    expect(check([put(1, 'k1', 'a', 5, 1, 2), put(2, 'k1', 'b', 5, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a delete reporting deleted=false while the key certainly exists', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), del(2, 'k1', false, 2, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a delete reporting deleted=true while the key certainly does not exist', () => {
    expect(check([del(2, 'k1', true, 2, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a get returning a value nobody wrote', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), get(2, 'k1', 'zzz', 1, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a get reporting the wrong revision for the current value', () => {
    expect(check([put(1, 'k1', 'a', 4, 1, 2), get(2, 'k1', 'a', 3, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a get that finds a key deleted before it was called', () => {
    expect(check([put(1, 'k1', 'a', 1, 1, 2), del(2, 'k1', true, 2, 3, 4), get(3, 'k1', 'a', 1, 5, 6)])).toMatchObject(VIOLATION);
  });

  it('rejects a failed compare-and-set that reports a revision other than the current one', () => {
    expect(check([put(1, 'k1', 'a', 3, 1, 2), casFail(2, 'k1', 'b', 1, 2, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a compare-and-set that fails although its expected revision is current', () => {
    expect(check([put(1, 'k1', 'a', 3, 1, 2), casFail(2, 'k1', 'b', 3, 3, 3, 4)])).toMatchObject(VIOLATION);
  });

  it('rejects a put whose slot is not above a completed delete of the same key', () => {
    expect(check([put(1, 'k1', 'a', 3, 1, 2), del(1, 'k1', true, 5, 3, 4), put(2, 'k1', 'b', 4, 5, 6)])).toMatchObject(VIOLATION);
  });

  it('rejects a put older than the revision a get pinned for an unknown-outcome put', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'x', 3), get(3, 'k1', 'x', 2, 4, 5), put(1, 'k1', 'b', 2, 6, 7)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects a get revealing an unknown-outcome put at a slot not above the floor', () => {
    expect(check([put(1, 'k1', 'a', 4, 1, 2), putUnknown(2, 'k1', 'x', 3), get(3, 'k1', 'x', 4, 5, 6)])).toMatchObject(VIOLATION);
  });

  it('rejects an unknown-outcome compare-and-set showing up although its expected revision never held', () => {
    const h = [put(1, 'k1', 'a', 1, 1, 2), putUnknown(2, 'k1', 'b', 3, 7), get(3, 'k1', 'b', 5, 10, 11)];
    expect(check(h)).toMatchObject(VIOLATION);
  });

  it('rejects a get seeing an unknown-outcome put before the put was called', () => {
    expect(check([get(3, 'k1', 'x', 2, 1, 2), putUnknown(2, 'k1', 'x', 3)])).toMatchObject(VIOLATION);
  });
});

// --- reports -----------------------------------------------------------------

describe('kvModel: failure reports', () => {
  it('describes operations with key, value, compare, result and times', () => {
    expect(describeKvOperation(casOk(3, 'k1', 'v3.7', 12, 15, 104, 130))).toBe('c3 put(k1, "v3.7" if rev 12) -> ok rev 15 [call 104, ret 130]');
    expect(describeKvOperation(casFail(3, 'k1', 'v', 0, 4, 1, 2))).toBe('c3 put(k1, "v" if rev 0) -> failed, current rev 4 [call 1, ret 2]');
    expect(describeKvOperation(get(1, 'k2', 'a', 3, 5, 6))).toBe('c1 get(k2) -> "a" rev 3 [call 5, ret 6]');
    expect(describeKvOperation(getMissing(1, 'k2', 5, 6))).toBe('c1 get(k2) -> not found [call 5, ret 6]');
    expect(describeKvOperation(del(2, 'k2', false, 9, 7, 8))).toBe('c2 delete(k2) -> not deleted rev 9 [call 7, ret 8]');
    expect(describeKvOperation(putUnknown(4, 'k1', 'x', 3))).toBe('c4 put(k1, "x") -> ? (unknown outcome) [call 3, never returned]');
  });

  it("names the failing key's operations in the explanation and returns only that key's partition", () => {
    const h = [
      put(1, 'k1', 'a', 1, 1, 2),
      put(2, 'k2', 'x', 2, 3, 4),
      get(1, 'k1', 'a', 1, 5, 6),
      put(2, 'k2', 'y', 3, 7, 8),
      get(3, 'k2', 'x', 2, 9, 10),
    ];
    const verdict = check(h);
    expect(verdict).toMatchObject(VIOLATION);
    if (verdict.ok || verdict.reason !== 'not-linearizable') return;
    expect(verdict.partition).toEqual([h[1], h[3], h[4]]);
    const text = verdict.explanation;
    expect(text).toContain('longest linearizable prefix found (2 operations):');
    expect(text).toContain('  1. c2 put(k2, "x") -> ok rev 2 [call 3, ret 4]');
    expect(text).toContain('  2. c2 put(k2, "y") -> ok rev 3 [call 7, ret 8]');
    expect(text).toContain('state after it: k2 = "y" rev 3');
    expect(text).toContain('  - c3 get(k2) -> "x" rev 2 [call 9, ret 10]: impossible in this state');
    expect(text).not.toContain('k1');
  });
});

// --- the model's step function directly --------------------------------------

describe('kvModel: revisions after unknown outcomes', () => {
  it('represents the revision after an unknown-outcome put as a lower bound above the floor', () => {
    const [s] = stepKey({ value: 'a', revision: 4, floor: 6 }, putIn('k', 'x'), undefined);
    expect(s).toEqual({ value: 'x', revision: { atLeast: 7 }, floor: 7 });
  });

  it('pins an unknown revision when a get observes it', () => {
    const s = { value: 'x', revision: { atLeast: 7 }, floor: 7 } as const;
    expect(stepKey(s, { kind: 'get', key: 'k' }, { kind: 'get', found: true, value: 'x', revision: 9 })).toEqual([{ value: 'x', revision: 9, floor: 9 }]);
    expect(stepKey(s, { kind: 'get', key: 'k' }, { kind: 'get', found: true, value: 'x', revision: 6 })).toEqual([]);
    expect(stepKey(s, { kind: 'get', key: 'k' }, { kind: 'get', found: true, value: 'y', revision: 9 })).toEqual([]);
  });

  it('gives both outcomes of an unknown-outcome compare-and-set on an unknown revision', () => {
    const s = { value: 'x', revision: { atLeast: 7 }, floor: 7 } as const;
    expect(stepKey(s, putIn('k', 'y', 8), undefined)).toEqual([{ value: 'y', revision: { atLeast: 9 }, floor: 9 }, s]);
    expect(stepKey(s, putIn('k', 'y', 3), undefined)).toEqual([s]);
  });
});

describe('kvModel: hints for the search', () => {
  const present: KvKeyState = { value: 'a', revision: 5, floor: 7 };
  const unknownRev: KvKeyState = { value: 'x', revision: { atLeast: 8 }, floor: 8 };
  const getIn: KvInput = { kind: 'get', key: 'k' };

  it('treats gets and failed compare-and-sets as read-only, and nothing else', () => {
    const ro = (input: KvInput, output: KvOutput | undefined) => kvModel.readOnly!(input, output);
    expect(ro(getIn, { kind: 'get', found: false })).toBe(true);
    expect(ro(putIn('k', 'v', 3), { kind: 'put', ok: false, currentRevision: 4 })).toBe(true);
    expect(ro(putIn('k', 'v', 3), { kind: 'put', ok: true, revision: 9 })).toBe(false);
    expect(ro(putIn('k', 'v', 3), undefined)).toBe(false);
    expect(ro(putIn('k', 'v'), { kind: 'put', ok: true, revision: 9 })).toBe(false);
    expect(ro({ kind: 'delete', key: 'k' }, { kind: 'delete', deleted: false, revision: 9 })).toBe(false);
  });

  it('calls a write expired once its slot is not above the floor', () => {
    expect(keyExpired(present, putIn('k', 'v'), { kind: 'put', ok: true, revision: 7 })).toBe(true);
    expect(keyExpired(present, putIn('k', 'v'), { kind: 'put', ok: true, revision: 8 })).toBe(false);
    expect(keyExpired(present, { kind: 'delete', key: 'k' }, { kind: 'delete', deleted: true, revision: 6 })).toBe(true);
    expect(keyExpired(unknownRev, putIn('k', 'v'), { kind: 'put', ok: true, revision: 8 })).toBe(true);
    expect(keyExpired(unknownRev, putIn('k', 'v'), { kind: 'put', ok: true, revision: 9 })).toBe(false);
  });

  it('calls an observation expired once the revision it saw can never be current again', () => {
    const sees = (value: string, revision: number): KvOutput => ({ kind: 'get', found: true, value, revision });
    expect(keyExpired(present, getIn, sees('a', 5))).toBe(false); // the current revision
    expect(keyExpired(present, getIn, sees('b', 5))).toBe(true); // revision 5 holds "a"
    expect(keyExpired(present, getIn, sees('b', 6))).toBe(true); // slot 6 is passed
    expect(keyExpired(present, getIn, sees('b', 8))).toBe(false); // a later put may write it
    expect(keyExpired(present, getIn, { kind: 'get', found: false })).toBe(false); // a later delete may come
    expect(keyExpired(unknownRev, getIn, sees('x', 8))).toBe(false); // may pin the unknown revision
    expect(keyExpired(unknownRev, getIn, sees('x', 7))).toBe(true);
    expect(keyExpired(present, putIn('k', 'v', 3), { kind: 'put', ok: false, currentRevision: 3 })).toBe(true);
    expect(keyExpired(present, putIn('k', 'v', 3), { kind: 'put', ok: false, currentRevision: 0 })).toBe(false);
    expect(keyExpired(present, putIn('k', 'v', 3), { kind: 'put', ok: true, revision: 9 })).toBe(true); // needs rev 3
    expect(keyExpired(present, putIn('k', 'v', 0), { kind: 'put', ok: true, revision: 9 })).toBe(false); // absent again after a delete
    expect(keyExpired(present, putIn('k', 'v'), undefined)).toBe(false);
  });

  it('lets a state subsume another only when it accepts everything the other accepts', () => {
    expect(keySubsumes(present, present)).toBe(true);
    expect(keySubsumes(present, { ...present, floor: 9 })).toBe(true);
    expect(keySubsumes({ ...present, floor: 9 }, present)).toBe(false);
    expect(keySubsumes(present, { ...present, value: 'b' })).toBe(false);
    expect(keySubsumes(present, { ...present, revision: 6 })).toBe(false);
    expect(keySubsumes(unknownRev, { value: 'x', revision: 8, floor: 8 })).toBe(true);
    expect(keySubsumes(unknownRev, { value: 'x', revision: 12, floor: 12 })).toBe(true);
    expect(keySubsumes(unknownRev, { value: 'x', revision: 7, floor: 9 })).toBe(false);
    expect(keySubsumes(unknownRev, { value: 'x', revision: { atLeast: 9 }, floor: 9 })).toBe(true);
    expect(keySubsumes({ value: 'x', revision: { atLeast: 9 }, floor: 9 }, unknownRev)).toBe(false);
    expect(keySubsumes({ value: 'x', revision: 8, floor: 8 }, unknownRev)).toBe(false);
    expect(keySubsumes({ value: undefined, revision: 0, floor: 3 }, { value: undefined, revision: 0, floor: 4 })).toBe(true);
    expect(kvModel.subsumes!({ k: present }, { k: { ...present, floor: 9 }, j: { value: undefined, revision: 0, floor: 0 } })).toBe(true);
    expect(kvModel.subsumes!({ k: present }, { k: present, j: unknownRev })).toBe(false);
  });
});

// --- properties --------------------------------------------------------------

interface PlannedOp {
  readonly kind: 'put' | 'cas' | 'get' | 'delete';
  readonly key: number;
  /** How a compare picks its expected revision: the current one, 0, current + 1, or an arbitrary small number. */
  readonly expect: number;
  /** Extra slots consumed before this command (other keys' commands, no-ops). */
  readonly gap: number;
  /** known: the client learned the result; applied/lost: it never did, and the command did/did not take effect. */
  readonly fate: 'known' | 'applied' | 'lost';
  readonly widenBefore: number;
  readonly widenAfter: number;
}

const plannedOp: fc.Arbitrary<PlannedOp> = fc.record({
  kind: fc.constantFrom('put', 'cas', 'get', 'delete'),
  key: fc.nat(2),
  expect: fc.nat(5),
  gap: fc.nat(2),
  fate: fc.constantFrom<PlannedOp['fate']>('known', 'known', 'known', 'known', 'known', 'known', 'applied', 'lost'),
  widenBefore: fc.nat(3),
  widenAfter: fc.nat(3),
});

/**
 * Runs the plan one operation at a time against an in-memory KV (a log with
 * slots), recording each operation in its own time window; with `widen`, the
 * windows are stretched, which keeps the sequential order a valid linearization.
 */
function runSequentially(plan: readonly PlannedOp[], widen: boolean): KvOperation[] {
  const store = new Map<string, { value: string; revision: number }>();
  let slot = 0;
  return plan.map((p, i) => {
    const key = `k${p.key}`;
    const cur = store.get(key);
    const curRev = cur?.revision ?? 0;
    const value = `v${i}`;
    let input: KvInput;
    let output: KvOutput;
    switch (p.kind) {
      case 'get':
        input = { kind: 'get', key };
        output = cur ? { kind: 'get', found: true, value: cur.value, revision: cur.revision } : { kind: 'get', found: false };
        break;
      case 'delete':
        input = { kind: 'delete', key };
        slot += 1 + p.gap;
        output = { kind: 'delete', deleted: cur !== undefined, revision: slot };
        if (p.fate !== 'lost') store.delete(key);
        break;
      case 'put':
      case 'cas': {
        const ifRevision = p.kind === 'put' ? undefined : [curRev, 0, curRev + 1, p.gap, curRev, curRev][p.expect]!;
        input = putIn(key, value, ifRevision);
        slot += 1 + p.gap; // a failed compare is decided at a slot too
        if (ifRevision === undefined || ifRevision === curRev) {
          output = { kind: 'put', ok: true, revision: slot };
          if (p.fate !== 'lost') store.set(key, { value, revision: slot });
        } else {
          output = { kind: 'put', ok: false, currentRevision: curRev };
        }
        break;
      }
    }
    const tie = (i + 1) / 10_000; // keeps every call and return time distinct
    const call = 100 * (i - (widen ? p.widenBefore : 0)) + 1 + tie;
    const ret = 100 * (i + (widen ? p.widenAfter : 0)) + 2 + tie;
    if (p.fate === 'known') return op(i % 5, input, call, ret, output);
    return op(i % 5, input, call, Infinity, undefined);
  });
}

describe('kvModel: properties', () => {
  it('judges every history of a sequential run linearizable, with or without widened intervals', () => {
    fc.assert(
      fc.property(fc.array(plannedOp, { minLength: 0, maxLength: 60 }), fc.boolean(), (plan, widen) => {
        expect(check(runSequentially(plan, widen))).toEqual(OK);
      }),
      { numRuns: 300 },
    );
  });

  it('judges a sequential run not linearizable once one get returns a value never written', () => {
    fc.assert(
      fc.property(fc.array(plannedOp, { minLength: 1, maxLength: 60 }), fc.boolean(), fc.nat(), (plan, widen, pick) => {
        const history = runSequentially(plan, widen);
        const gets = history.flatMap((o, i) => (o.input.kind === 'get' && o.output !== undefined ? [i] : []));
        fc.pre(gets.length > 0);
        const at = gets[pick % gets.length]!;
        const victim = history[at]!;
        const revision = victim.output?.kind === 'get' && victim.output.found ? victim.output.revision : 1;
        const corrupted = history.map((o, i) =>
          i === at ? { ...o, output: { kind: 'get', found: true, value: 'never-written', revision } as const } : o,
        );
        const verdict = check(corrupted);
        expect(verdict).toMatchObject(VIOLATION);
        if (verdict.ok || verdict.reason !== 'not-linearizable') return;
        // The failing partition is the corrupted read's key, and it holds the corrupted read.
        expect(verdict.partition).toContainEqual(corrupted[at]);
      }),
      { numRuns: 300 },
    );
  });
});

// --- agreement with a brute-force oracle ---------------------------------------

/** A key as the log sees it: every slot explicit. */
interface ConcreteKey {
  readonly value: string | undefined;
  readonly revision: number;
  /** The last slot applied to the key. */
  readonly slot: number;
}

/**
 * Brute force over concrete executions: every real-time-respecting order of the
 * operations (unknown-outcome ones optional) and every concrete slot for each
 * write whose outcome is unknown (slots up to `top` suffice: a slot is either
 * observed, hence at most the largest number in the history, or can be the
 * smallest free one). Single key. Exponential; for tiny histories only.
 */
function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  const n = history.length;
  let top = 0;
  for (const o of history) {
    const out = o.output;
    if (o.input.kind === 'put' && o.input.ifRevision !== undefined) top = Math.max(top, o.input.ifRevision);
    if (out && 'revision' in out) top = Math.max(top, out.revision);
    if (out && 'currentRevision' in out) top = Math.max(top, out.currentRevision);
  }
  top += n + 1;
  const known = history.filter((o) => o.return !== Infinity).length;
  const placed = new Array<boolean>(n).fill(false);

  const successors = (s: ConcreteKey, o: KvOperation): ConcreteKey[] => {
    const out = o.output;
    const freshSlots = (make: (slot: number) => ConcreteKey): ConcreteKey[] => {
      const all: ConcreteKey[] = [];
      for (let slot = s.slot + 1; slot <= top; slot++) all.push(make(slot));
      return all;
    };
    switch (o.input.kind) {
      case 'get':
        if (out === undefined) return [s];
        if (out.kind !== 'get') return [];
        if (!out.found) return s.value === undefined ? [s] : [];
        return s.value === out.value && s.revision === out.revision ? [s] : [];
      case 'delete':
        if (out === undefined) return freshSlots((slot) => ({ value: undefined, revision: 0, slot }));
        if (out.kind !== 'delete' || out.deleted !== (s.value !== undefined) || out.revision <= s.slot) return [];
        return [{ value: undefined, revision: 0, slot: out.revision }];
      case 'put': {
        const v = o.input.value;
        const wins = o.input.ifRevision === undefined || o.input.ifRevision === s.revision;
        if (out === undefined) return wins ? freshSlots((slot) => ({ value: v, revision: slot, slot })) : [s];
        if (out.kind !== 'put') return [];
        if (out.ok) return wins && out.revision > s.slot ? [{ value: v, revision: out.revision, slot: out.revision }] : [];
        return !wins && out.currentRevision === s.revision ? [s] : [];
      }
    }
  };

  const search = (s: ConcreteKey, knownPlaced: number): boolean => {
    if (knownPlaced === known) return true;
    for (let i = 0; i < n; i++) {
      if (placed[i]) continue;
      const o = history[i]!;
      if (history.some((p, j) => !placed[j] && j !== i && p.return < o.call)) continue;
      placed[i] = true;
      for (const next of successors(s, o)) {
        if (search(next, knownPlaced + (o.return === Infinity ? 0 : 1))) {
          placed[i] = false;
          return true;
        }
      }
      placed[i] = false;
    }
    return false;
  };
  return search({ value: undefined, revision: 0, slot: 0 }, 0);
}

const smallOutput = (kind: KvInput['kind'], n: number): fc.Arbitrary<KvOutput> => {
  const rev = fc.nat(2 * n + 2);
  switch (kind) {
    case 'get':
      return fc.oneof(
        fc.constant<KvOutput>({ kind: 'get', found: false }),
        fc.record({ i: fc.nat(Math.max(0, n - 1)), revision: rev }).map(
          ({ i, revision }): KvOutput => ({ kind: 'get', found: true, value: `v${i}`, revision }),
        ),
      );
    case 'put':
      return fc.oneof(
        rev.map((revision): KvOutput => ({ kind: 'put', ok: true, revision })),
        rev.map((currentRevision): KvOutput => ({ kind: 'put', ok: false, currentRevision })),
      );
    case 'delete':
      return fc.record({ deleted: fc.boolean(), revision: rev }).map((o): KvOutput => ({ kind: 'delete', ...o }));
  }
};

/** A sequential single-key run with overlapping windows around each operation's instant, then maybe one output replaced at random. */
const smallConcurrentHistory: fc.Arbitrary<KvOperation[]> = fc
  .record({
    plan: fc.array(plannedOp.map((p) => ({ ...p, key: 0 })), { minLength: 1, maxLength: 7 }),
    windows: fc.array(fc.tuple(fc.nat(25), fc.nat(25)), { minLength: 7, maxLength: 7 }),
    mutate: fc.option(fc.nat(6), { nil: undefined }),
    seed: fc.nat(),
  })
  .chain(({ plan, windows, mutate, seed }) => {
    const base = runSequentially(plan, false).map((o, i) => {
      const [before, after] = windows[i]!;
      const tie = (i + 1) / 1000;
      return { ...o, call: 10 * i - before + tie, return: o.return === Infinity ? Infinity : 10 * i + after + 0.5 + tie };
    });
    const target = mutate === undefined ? undefined : base[mutate % base.length];
    if (target === undefined || target.output === undefined) return fc.constant(base);
    return smallOutput(target.input.kind, base.length).map((output) => base.map((o) => (o === target ? { ...o, output } : o)));
  });

describe('kvModel: agreement with brute force', () => {
  it('gives the same verdict as a brute-force search over concrete slot assignments on small histories', () => {
    const seen = { ok: 0, violation: 0 };
    fc.assert(
      fc.property(smallConcurrentHistory, (history) => {
        const expected = bruteForceLinearizable(history);
        const verdict = check(history);
        expect(verdict.ok).toBe(expected);
        seen[expected ? 'ok' : 'violation']++;
      }),
      { numRuns: 400 },
    );
    expect(seen.ok).toBeGreaterThan(20);
    expect(seen.violation).toBeGreaterThan(20);
  });
});
