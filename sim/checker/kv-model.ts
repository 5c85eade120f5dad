/**
 * The sequential specification of edgepaxos' key-value store, as a `Model` for
 * the linearizability checker.
 *
 * The system under test is a replicated log: every put and delete is decided at
 * a log slot, slots grow in the order commands take effect, and a key's
 * revision is the slot of the put that last wrote it (0 = absent). Clients see
 * those slots, so the model tracks per key:
 *
 * - `value`: the current value, or undefined when the key is absent;
 * - `revision`: the current revision, exact, or `{ atLeast: n }` after a write
 *   whose outcome (and so slot) is unknown; a later observation (get, failed
 *   compare, ...) pins it;
 * - `floor`: every later put/delete on the key must report a slot greater than
 *   this. After a write with a known slot it is that slot. After a write with an
 *   unknown slot it is the old floor + 1: the unknown slot is at least that, and
 *   (slots being integers) any later slot exceeds it exactly when such an
 *   unknown slot can be chosen, so this bound loses nothing.
 *
 * A failed compare-and-set is not known to occupy a slot, so it never moves the
 * floor. Reads (`get`) never change the key, only refine an unknown revision.
 *
 * The model also gives the checker's search hints: `readOnly` (gets and failed
 * compares), `expired` (an operation whose slot, or the revision it saw, is
 * already passed) and `subsumes` (a lower floor, or an unknown revision, is
 * more permissive). With them the verdict stays exact: the unit tests compare
 * it with a brute-force search over concrete slot numbers. One deliberate
 * approximation: a compare-and-set that returned without an output, on a key
 * whose revision is unknown, may fail without recording that the revision
 * differed from the expected one (this errs towards accepting).
 */
import { formatInterval, type Model, type Operation } from './linearizability.ts';

export type KvInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly ifRevision?: number }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string };

export type KvOutput =
  | { readonly kind: 'put'; readonly ok: true; readonly revision: number }
  | { readonly kind: 'put'; readonly ok: false; readonly currentRevision: number } // failed compare-and-set
  | { readonly kind: 'get'; readonly found: false }
  | { readonly kind: 'get'; readonly found: true; readonly value: string; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number };

/** What the model knows about one key. */
export interface KvKeyState {
  /** The current value; undefined when the key is absent. */
  readonly value: string | undefined;
  /** Slot of the put that last wrote the key (0 when absent), or a lower bound for it after an unknown-outcome write. */
  readonly revision: number | { readonly atLeast: number };
  /** Every later put/delete on this key must report a slot greater than this. */
  readonly floor: number;
}

/** Keys never written are absent with floor 0 and are not listed. */
export type KvState = Readonly<Record<string, KvKeyState>>;

export type KvOperation = Operation<KvInput, KvOutput>;

export const ABSENT_KEY: KvKeyState = Object.freeze({ value: undefined, revision: 0, floor: 0 });

const NONE: readonly KvKeyState[] = Object.freeze([]);
const NO_STATES: readonly KvState[] = Object.freeze([]);

/** Every state of one key possible after `input` took effect producing `output` (undefined = unknown). */
export function stepKey(s: KvKeyState, input: KvInput, output: KvOutput | undefined): readonly KvKeyState[] {
  const rev = s.revision;
  const exact = typeof rev === 'number';
  const f = s.floor;
  switch (input.kind) {
    case 'get': {
      if (output === undefined) return [s];
      if (output.kind !== 'get') return NONE;
      if (!output.found) return s.value === undefined ? [s] : NONE;
      if (s.value !== output.value) return NONE;
      const r = output.revision;
      if (exact) return rev === r ? [s] : NONE;
      return r >= rev.atLeast ? [{ value: s.value, revision: r, floor: r }] : NONE;
    }
    case 'delete': {
      if (output === undefined) return [{ value: undefined, revision: 0, floor: f + 1 }];
      if (output.kind !== 'delete') return NONE;
      const d = output.revision;
      if (output.deleted !== (s.value !== undefined) || !(d > f)) return NONE;
      return [{ value: undefined, revision: 0, floor: d }];
    }
    case 'put': {
      const v = input.value;
      const e = input.ifRevision;
      if (e === undefined) {
        if (output === undefined) return [{ value: v, revision: { atLeast: f + 1 }, floor: f + 1 }];
        if (output.kind !== 'put' || !output.ok) return NONE;
        const r = output.revision;
        return r > f ? [{ value: v, revision: r, floor: r }] : NONE;
      }
      if (exact) {
        const matches = rev === e;
        if (output === undefined) return matches ? [{ value: v, revision: { atLeast: f + 1 }, floor: f + 1 }] : [s];
        if (output.kind !== 'put') return NONE;
        if (output.ok) {
          const r = output.revision;
          return matches && r > f ? [{ value: v, revision: r, floor: r }] : NONE;
        }
        return !matches && output.currentRevision === rev ? [s] : NONE;
      }
      // Unknown revision, at least `lo` (and then floor === lo): a compare pins it.
      const lo = rev.atLeast;
      const canMatch = e >= lo;
      if (output === undefined) {
        return canMatch ? [{ value: v, revision: { atLeast: e + 1 }, floor: e + 1 }, s] : [s];
      }
      if (output.kind !== 'put') return NONE;
      if (output.ok) {
        const r = output.revision;
        return canMatch && r > e ? [{ value: v, revision: r, floor: r }] : NONE;
      }
      const c = output.currentRevision;
      return c >= lo && c !== e ? [{ value: s.value, revision: c, floor: c }] : NONE;
    }
  }
}

function hashKey(key: string, s: KvKeyState): string {
  const head = `${key.length}:${key}`;
  if (s.value === undefined) return `${head}-${s.floor};`;
  const r = s.revision;
  const body = typeof r === 'number' ? `=${r},${s.floor}` : `>${r.atLeast}`;
  return `${head}${body}:${s.value.length}:${s.value};`;
}

function describeKey(key: string, s: KvKeyState): string {
  if (s.value === undefined) return `${key}: absent${s.floor > 0 ? ` (floor ${s.floor})` : ''}`;
  const r = s.revision;
  if (typeof r !== 'number') return `${key} = ${JSON.stringify(s.value)} rev >= ${r.atLeast} (unknown)`;
  return `${key} = ${JSON.stringify(s.value)} rev ${r}${s.floor > r ? ` (floor ${s.floor})` : ''}`;
}

function describeInput(input: KvInput): string {
  switch (input.kind) {
    case 'get':
      return `get(${input.key})`;
    case 'delete':
      return `delete(${input.key})`;
    case 'put': {
      const cond = input.ifRevision === undefined ? '' : ` if rev ${input.ifRevision}`;
      return `put(${input.key}, ${JSON.stringify(input.value)}${cond})`;
    }
  }
}

function describeOutput(output: KvOutput | undefined): string {
  if (output === undefined) return '? (unknown outcome)';
  switch (output.kind) {
    case 'put':
      return output.ok ? `ok rev ${output.revision}` : `failed, current rev ${output.currentRevision}`;
    case 'get':
      return output.found ? `${JSON.stringify(output.value)} rev ${output.revision}` : 'not found';
    case 'delete':
      return `${output.deleted ? 'deleted' : 'not deleted'} rev ${output.revision}`;
  }
}

/** `c3 put(k1, "v3.7" if rev 12) -> ok rev 15 [call 104, ret 130]` */
export function describeKvOperation(op: KvOperation): string {
  return `c${op.clientId} ${describeInput(op.input)} -> ${describeOutput(op.output)} ${formatInterval(op)}`;
}

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init(): KvState {
    return {};
  },

  step(state: KvState, input: KvInput, output: KvOutput | undefined): readonly KvState[] {
    const key = input.key;
    const before = state[key] ?? ABSENT_KEY;
    const after = stepKey(before, input, output);
    if (after.length === 0) return NO_STATES;
    return after.map((ks) => (ks === before ? state : { ...state, [key]: ks }));
  },

  hash(state: KvState): string {
    let keys: string[] | undefined;
    let only: string | undefined;
    let count = 0;
    for (const k in state) {
      if (count === 0) only = k;
      else (keys ??= [only!]).push(k);
      count++;
    }
    if (count === 0) return '';
    if (count === 1) return hashKey(only!, state[only!]!);
    keys!.sort();
    let h = '';
    for (const k of keys!) h += hashKey(k, state[k]!);
    return h;
  },

  partition(history: readonly KvOperation[]): readonly (readonly KvOperation[])[] {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of history) {
      const list = byKey.get(op.input.key);
      if (list) list.push(op);
      else byKey.set(op.input.key, [op]);
    }
    return [...byKey.values()];
  },

  describe: describeKvOperation,

  describeState(state: KvState): string {
    const keys = Object.keys(state).sort();
    if (keys.length === 0) return 'all keys absent';
    return keys.map((k) => describeKey(k, state[k]!)).join(', ');
  },

  readOnly(input: KvInput, output: KvOutput | undefined): boolean {
    // A get, or a compare-and-set known to have failed: both only observe.
    return input.kind === 'get' || (output !== undefined && output.kind === 'put' && !output.ok);
  },

  expired(state: KvState, input: KvInput, output: KvOutput | undefined): boolean {
    return keyExpired(state[input.key] ?? ABSENT_KEY, input, output);
  },

  subsumes(a: KvState, b: KvState): boolean {
    for (const k in a) if (!(k in b) && !keySubsumes(a[k]!, ABSENT_KEY)) return false;
    for (const k in b) if (!keySubsumes(a[k] ?? ABSENT_KEY, b[k]!)) return false;
    return true;
  },
};

/** Whether the key could have revision `r` now, with `value` if given. */
function couldBeNow(s: KvKeyState, r: number, value?: string): boolean {
  if (value !== undefined && s.value !== value) return false;
  const rev = s.revision;
  return typeof rev === 'number' ? rev === r : r >= rev.atLeast;
}

/**
 * Whether an operation with a known output can no longer take effect on this
 * key, now or later: the floor only grows, and every revision the key takes
 * from now on is either the current one or a slot above the floor.
 */
export function keyExpired(s: KvKeyState, input: KvInput, output: KvOutput | undefined): boolean {
  if (output === undefined) return false;
  const f = s.floor;
  // Revision r can still be seen if it is above the floor or could be the current one.
  const gone = (r: number, value?: string): boolean => r <= f && !couldBeNow(s, r, value);
  switch (output.kind) {
    case 'put':
      if (output.ok) {
        if (output.revision <= f) return true;
        const e = input.kind === 'put' ? input.ifRevision : undefined;
        return e !== undefined && e !== 0 && gone(e);
      }
      return output.currentRevision !== 0 && gone(output.currentRevision);
    case 'delete':
      return output.revision <= f;
    case 'get':
      return output.found && gone(output.revision, output.value);
  }
}

/**
 * Whether key state `a` accepts every continuation `b` accepts: the same value,
 * and a lower floor with the same revision, or an unknown revision whose bound
 * admits `b`'s revision (an observation then pins `a` to it).
 */
export function keySubsumes(a: KvKeyState, b: KvKeyState): boolean {
  if (a.value !== b.value) return false;
  const ra = a.revision;
  const rb = b.revision;
  if (typeof ra === 'number') return typeof rb === 'number' && ra === rb && a.floor <= b.floor;
  if (typeof rb === 'number') return rb >= ra.atLeast;
  return ra.atLeast <= rb.atLeast;
}
