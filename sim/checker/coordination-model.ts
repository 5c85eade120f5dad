/**
 * The sequential specification of edgepaxos' key-value store with its
 * coordination primitives, as a `Model` for the linearizability checker: the
 * KV model (kv-model.ts: values, revisions that are slots, floors, unknown
 * revisions after unknown-outcome writes) plus what transactions and leases
 * add:
 *
 * - transactions: several keys at one revision. A known output says which
 *   branch applied and at which slot; the compares must agree with that
 *   (every one may hold for success, some may fail for failure), every key
 *   the transaction touches must be below that slot, and its gets must see the
 *   state as the branch's earlier operations left it (a get sees its own
 *   transaction's writes, as the state machine does);
 * - create revisions, which compares and gets can see;
 * - leases: which exist, which key is attached to which; a lease ends (by a
 *   revoke, or by an expiry the cluster decided: an operation of the cluster,
 *   recorded by the simulator when it is applied) deleting exactly the keys
 *   attached to it, at its slot;
 * - refusals: a put naming a lease that does not exist applies nothing.
 *
 * Deliberate approximations, all erring towards accepting: a transaction whose
 * outcome is unknown moves each key's floor on its own (not to one shared
 * slot); a compare on a revision that is unknown may go either way; a key
 * whose create revision was lost to an unknown revision accepts any create
 * revision a get reports once (then it is pinned); a refused transaction
 * (lease_not_found) only checks that some put of it names a lease that is not
 * live.
 *
 * Histories without transactions or leases are checked as well by the plain
 * KV model (kvModel), which the long-standing campaigns keep using.
 */
import type { TxnCompare, TxnOp } from '../../src/core/index.ts';
import { type KvKeyState, type KvOutput, ABSENT_KEY, keyExpired, keySubsumes, stepKey } from './kv-model.ts';
import { type Model, type Operation, formatInterval } from './linearizability.ts';

export type CoordInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly ifRevision?: number; readonly lease?: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string; readonly ifRevision?: number }
  | { readonly kind: 'txn'; readonly compare: readonly TxnCompare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] }
  | { readonly kind: 'lease-grant' }
  | { readonly kind: 'lease-keepalive'; readonly lease: string }
  | { readonly kind: 'lease-revoke'; readonly lease: string }
  /** The cluster's: a leader found the lease's time up (recorded when applied). */
  | { readonly kind: 'lease-expire'; readonly lease: string };

export type CoordTxnResult =
  | { readonly kind: 'put'; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: number }
  | { readonly kind: 'get'; readonly key: string; readonly item: { readonly value: string; readonly revision: number; readonly createRevision: number } | null };

export type CoordOutput =
  | Exclude<KvOutput, { kind: 'get' }>
  | { readonly kind: 'get'; readonly found: false }
  | { readonly kind: 'get'; readonly found: true; readonly value: string; readonly revision: number; readonly createRevision?: number }
  | { readonly kind: 'rejected'; readonly code: 'lease_not_found' }
  /** A delete whose if_revision did not match. */
  | { readonly kind: 'rejected'; readonly code: 'revision_mismatch'; readonly currentRevision: number }
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly results: readonly CoordTxnResult[] }
  /** A grant (its id) or a keep-alive that found the lease. */
  | { readonly kind: 'lease'; readonly lease: string }
  | { readonly kind: 'lease-ended'; readonly keys: readonly string[]; readonly revision: number }
  /** An expiry that came too late: the lease was kept alive, or had ended, since it was proposed. */
  | { readonly kind: 'lease-kept' };

/** What the model knows of one key: the KV model's state, its create revision and its lease. */
export interface CoordKey {
  readonly base: KvKeyState;
  /** A number; 'rev' when its latest write created it (equal to its revision, which may be unknown); 'unknown' when lost. Meaningless while absent. */
  readonly created: number | 'rev' | 'unknown';
  readonly lease: string | null;
}

export interface CoordState {
  readonly keys: Readonly<Record<string, CoordKey>>;
  /** Live leases, sorted. */
  readonly leases: readonly string[];
}

export type CoordOperation = Operation<CoordInput, CoordOutput>;

const ABSENT: CoordKey = Object.freeze({ base: ABSENT_KEY, created: 0, lease: null });
const NONE: readonly CoordState[] = Object.freeze([]);

type Truth = boolean | 'unknown';

function keyOf(state: CoordState, key: string): CoordKey {
  return state.keys[key] ?? ABSENT;
}

function live(state: CoordState, lease: string): boolean {
  return state.leases.includes(lease);
}

/** The create revision a key has now, if known. */
function createdNow(k: CoordKey): number | null {
  if (k.base.value === undefined) return 0;
  if (typeof k.created === 'number') return k.created;
  if (k.created === 'rev' && typeof k.base.revision === 'number') return k.base.revision;
  return null;
}

/** The key after an unconditional write at slot `r` (null: unknown); none if `r` is not above its floor. */
function written(k: CoordKey, value: string, lease: string | null, r: number | null): CoordKey[] {
  const bases = stepKey(k.base, { kind: 'put', key: '', value }, r === null ? undefined : { kind: 'put', ok: true, revision: r });
  let created: CoordKey['created'];
  if (k.base.value === undefined) created = 'rev';
  else created = createdNow(k) ?? 'unknown';
  return bases.map((base) => ({ base, created, lease }));
}

/** The key after a delete at slot `r` (null: unknown); an absent key is unchanged. */
function removed(k: CoordKey, r: number | null): CoordKey[] {
  if (k.base.value === undefined) return [k];
  return stepKey(k.base, { kind: 'delete', key: '' }, r === null ? undefined : { kind: 'delete', deleted: true, revision: r }).map((base) => ({ base, created: 0, lease: null }));
}

/** The key as a get that saw `item` leaves it (pinned), or none if it cannot have seen that. */
function seen(k: CoordKey, item: { value: string; revision: number; createRevision?: number } | null): CoordKey[] {
  if (item === null) return k.base.value === undefined ? [k] : [];
  const bases = stepKey(k.base, { kind: 'get', key: '' }, { kind: 'get', found: true, value: item.value, revision: item.revision });
  const out: CoordKey[] = [];
  for (const base of bases) {
    const pinned: CoordKey = base === k.base ? k : { ...k, base };
    if (item.createRevision === undefined) {
      out.push(pinned);
      continue;
    }
    const c = createdNow(pinned);
    if (c === null) out.push({ ...pinned, created: item.createRevision });
    else if (c === item.createRevision) out.push(pinned);
  }
  return out;
}

function compareNumber(actual: number | { atLeast: number }, op: TxnCompare['op'], e: number): Truth {
  if (typeof actual === 'number') return op === '==' ? actual === e : op === '!=' ? actual !== e : op === '<' ? actual < e : actual > e;
  const lo = actual.atLeast;
  switch (op) {
    case '==':
      return e < lo ? false : 'unknown';
    case '!=':
      return e < lo ? true : 'unknown';
    case '<':
      return lo >= e ? false : 'unknown';
    case '>':
      return lo > e ? true : 'unknown';
  }
}

function holds(k: CoordKey, c: TxnCompare): Truth {
  if (c.target === 'value') {
    if (k.base.value === undefined) return false;
    return c.op === '==' ? k.base.value === c.value : k.base.value !== c.value;
  }
  const e = c.value as number;
  if (c.target === 'revision') return compareNumber(k.base.value === undefined ? 0 : k.base.revision, c.op, e);
  const created = createdNow(k);
  if (created !== null) return compareNumber(created, c.op, e);
  return k.created === 'rev' ? compareNumber(k.base.revision, c.op, e) : 'unknown';
}

/** Every key a transaction touches directly (not those a delete_prefix finds). */
function txnKeys(input: Extract<CoordInput, { kind: 'txn' }>): string[] {
  const keys = new Set<string>(input.compare.map((c) => c.key));
  for (const op of [...input.success, ...input.failure]) {
    if ('put' in op) keys.add(op.put.key);
    else if ('delete' in op) keys.add(op.delete.key);
    else if ('get' in op) keys.add(op.get.key);
  }
  return [...keys];
}

function withKeys(state: CoordState, keys: Record<string, CoordKey>): CoordState {
  const next: Record<string, CoordKey> = { ...state.keys };
  for (const [k, v] of Object.entries(keys)) {
    if (v.base.value === undefined && v.base.floor === 0) delete next[k];
    else next[k] = v;
  }
  return { keys: next, leases: state.leases };
}

/**
 * Apply a branch at slot `r` (null: unknown) on a copy of the keys: every
 * possible result (several only when unknown revisions leave a choice), with
 * the results checked against `results` when given.
 */
function applyBranch(state: CoordState, ops: readonly TxnOp[], r: number | null, results: readonly CoordTxnResult[] | null): CoordState[] {
  if (results !== null && results.length !== ops.length) return [];
  let staged: Record<string, CoordKey>[] = [{}];
  ops.forEach((op, i) => {
    const res = results?.[i] ?? null;
    const nextStaged: Record<string, CoordKey>[] = [];
    for (const s of staged) {
      const get = (key: string): CoordKey => s[key] ?? keyOf(state, key);
      if ('put' in op) {
        if (res !== null && (res.kind !== 'put' || res.revision !== r)) continue;
        const before = get(op.put.key);
        const lease = op.put.ignoreLease ? before.lease : (op.put.lease ?? null);
        for (const k of written(before, op.put.value, before.base.value === undefined && op.put.ignoreLease ? null : lease, r)) nextStaged.push({ ...s, [op.put.key]: k });
      } else if ('delete' in op) {
        const before = get(op.delete.key);
        const present = before.base.value !== undefined ? 1 : 0;
        if (res !== null && (res.kind !== 'delete' || res.deleted !== present)) continue;
        for (const k of removed(before, r)) nextStaged.push({ ...s, [op.delete.key]: k });
      } else if ('deletePrefix' in op) {
        const keys = new Set([...Object.keys(state.keys), ...Object.keys(s)].filter((k) => k.startsWith(op.deletePrefix.prefix) && get(k).base.value !== undefined));
        if (res !== null && (res.kind !== 'delete' || res.deleted !== keys.size)) continue;
        let acc: Record<string, CoordKey>[] = [s];
        for (const key of [...keys].sort()) acc = acc.flatMap((a) => removed(a[key] ?? keyOf(state, key), r).map((k) => ({ ...a, [key]: k })));
        nextStaged.push(...acc);
      } else {
        if (res === null) {
          nextStaged.push(s);
          continue;
        }
        if (res.kind !== 'get' || res.key !== op.get.key) continue;
        for (const k of seen(get(op.get.key), res.item)) nextStaged.push({ ...s, [op.get.key]: k });
      }
    }
    staged = nextStaged;
  });
  return staged.map((s) => withKeys(state, s));
}

/** Whether a transaction at slot `r` can come after what the model knows of `keys` (each key's floor is below `r`, where the revision is exact). */
function below(state: CoordState, keys: readonly string[], r: number): boolean {
  return keys.every((key) => {
    const k = keyOf(state, key);
    return typeof k.base.revision !== 'number' || k.base.floor < r;
  });
}

/** Raise to `r` the floors of `keys` (with exact revisions) that a transaction at slot `r` read: later writes to them come after it. */
function raiseFloors(state: CoordState, keys: readonly string[], r: number): CoordState {
  const raised: Record<string, CoordKey> = {};
  for (const key of keys) {
    const k = keyOf(state, key);
    if (typeof k.base.revision === 'number' && k.base.floor < r) raised[key] = { ...k, base: { ...k.base, floor: r } };
  }
  return Object.keys(raised).length === 0 ? state : withKeys(state, raised);
}

function stepTxn(state: CoordState, input: Extract<CoordInput, { kind: 'txn' }>, output: CoordOutput | undefined): readonly CoordState[] {
  if (output?.kind === 'rejected') {
    const unknownLease = [...input.success, ...input.failure].some((op) => 'put' in op && op.put.lease !== undefined && !live(state, op.put.lease));
    return output.code === 'lease_not_found' && unknownLease ? [state] : NONE;
  }
  if (output !== undefined && output.kind !== 'txn') return NONE;
  const truths = input.compare.map((c) => holds(keyOf(state, c.key), c));
  const canSucceed = truths.every((t) => t !== false);
  const canFail = truths.some((t) => t !== true);
  const leasesLive = (ops: readonly TxnOp[]): boolean => ops.every((op) => !('put' in op) || op.put.lease === undefined || live(state, op.put.lease));
  if (output === undefined) {
    const out: CoordState[] = [];
    for (const [ok, ops] of [[canSucceed, input.success], [canFail, input.failure]] as const) {
      if (!ok) continue;
      if (!leasesLive(ops)) out.push(state); // refused at apply: nothing changed
      else out.push(...applyBranch(state, ops, null, null));
    }
    return out;
  }
  const r = output.revision;
  if (output.succeeded ? !canSucceed : !canFail) return NONE;
  const ops = output.succeeded ? input.success : input.failure;
  if (!leasesLive(ops)) return NONE;
  let base = state;
  if (output.succeeded) {
    // An equality that held on an unknown revision pins it.
    const pins: Record<string, CoordKey> = {};
    for (const c of input.compare) {
      if (c.target !== 'revision' || c.op !== '==') continue;
      const k = pins[c.key] ?? keyOf(state, c.key);
      if (typeof k.base.revision === 'number' || k.base.value === undefined) continue;
      const pinned = seen(k, { value: k.base.value, revision: c.value as number });
      if (pinned.length === 0) return NONE;
      pins[c.key] = pinned[0]!;
    }
    base = withKeys(state, pins);
  }
  const keys = txnKeys(input);
  if (!below(base, keys, r)) return NONE;
  return applyBranch(base, ops, r, output.results).map((s) => raiseFloors(s, keys, r));
}

/** Every state possible after `input` took effect producing `output` (undefined = unknown). */
export function stepCoordination(state: CoordState, input: CoordInput, output: CoordOutput | undefined): readonly CoordState[] {
  switch (input.kind) {
    case 'get': {
      if (output === undefined) return [state];
      if (output.kind !== 'get') return NONE;
      const k = keyOf(state, input.key);
      return seen(k, output.found ? output : null).map((nk) => withKeys(state, { [input.key]: nk }));
    }
    case 'put': {
      const k = keyOf(state, input.key);
      if (output?.kind === 'rejected') return output.code === 'lease_not_found' && input.lease !== undefined && !live(state, input.lease) ? [state] : NONE;
      if (input.lease !== undefined && !live(state, input.lease)) {
        // The state machine refuses it (after a failed compare answers that instead).
        if (output === undefined) return [state];
        return output.kind === 'put' && !output.ok ? stepKey(k.base, input, output).map((base) => withKeys(state, { [input.key]: { ...k, base } })) : NONE;
      }
      if (output !== undefined && output.kind !== 'put') return NONE;
      const created: CoordKey['created'] = k.base.value === undefined ? 'rev' : (createdNow(k) ?? 'unknown');
      return stepKey(k.base, input, output).map((base) => {
        if (base === k.base) return state;
        // A state with the value unchanged and the revision merely pinned is a failed compare; otherwise the put applied.
        const applied = !(output !== undefined && output.kind === 'put' && !output.ok) && !(output === undefined && base.value === k.base.value && base.floor === k.base.floor);
        return withKeys(state, { [input.key]: applied ? { base, created, lease: input.lease ?? null } : { ...k, base } });
      });
    }
    case 'delete': {
      const k = keyOf(state, input.key);
      const e = input.ifRevision;
      if (e === undefined) {
        if (output !== undefined && output.kind !== 'delete') return NONE;
        return stepKey(k.base, input, output).map((base) => withKeys(state, { [input.key]: base.value === undefined ? { base, created: 0, lease: null } : { ...k, base } }));
      }
      const matches = holds(k, { key: input.key, target: 'revision', op: '==', value: e });
      if (output?.kind === 'rejected') {
        if (output.code !== 'revision_mismatch' || matches === true || output.currentRevision === e) return NONE;
        if (output.currentRevision === 0) return k.base.value === undefined ? [state] : NONE;
        if (k.base.value === undefined) return NONE;
        return seen(k, { value: k.base.value, revision: output.currentRevision }).map((nk) => withKeys(state, { [input.key]: nk }));
      }
      if (output !== undefined && output.kind !== 'delete') return NONE;
      if (matches === false) return output === undefined ? [state] : NONE;
      const pinned = e === 0 || k.base.value === undefined ? (e === 0 && k.base.value === undefined ? [k] : []) : seen(k, { value: k.base.value, revision: e });
      const out: CoordState[] = [];
      for (const p of pinned) {
        for (const base of stepKey(p.base, { kind: 'delete', key: input.key }, output)) {
          out.push(withKeys(state, { [input.key]: base.value === undefined ? { base, created: 0, lease: null } : { ...p, base } }));
        }
      }
      if (output === undefined && matches === 'unknown') out.push(state);
      return out;
    }
    case 'txn':
      return stepTxn(state, input, output);
    case 'lease-grant': {
      if (output === undefined) return [state]; // its id was never learned, so nothing can name it
      if (output.kind !== 'lease' || live(state, output.lease)) return NONE;
      return [{ keys: state.keys, leases: [...state.leases, output.lease].sort() }];
    }
    case 'lease-keepalive': {
      if (output === undefined) return [state];
      if (output.kind === 'lease') return output.lease === input.lease && live(state, input.lease) ? [state] : NONE;
      return output.kind === 'rejected' && output.code === 'lease_not_found' && !live(state, input.lease) ? [state] : NONE;
    }
    case 'lease-revoke':
    case 'lease-expire': {
      if (output?.kind === 'lease-kept') return input.kind === 'lease-expire' ? [state] : NONE;
      if (output?.kind === 'rejected') return output.code === 'lease_not_found' && !live(state, input.lease) ? [state] : NONE;
      if (!live(state, input.lease)) return output === undefined ? [state] : NONE;
      if (output !== undefined && output.kind !== 'lease-ended') return NONE;
      const attached = Object.keys(state.keys)
        .filter((key) => state.keys[key]!.lease === input.lease && state.keys[key]!.base.value !== undefined)
        .sort();
      if (output !== undefined && (attached.length !== output.keys.length || attached.some((key, i) => key !== output.keys[i]))) return NONE;
      const r = output?.revision ?? null;
      let results: Record<string, CoordKey>[] = [{}];
      for (const key of attached) results = results.flatMap((acc) => removed(keyOf(state, key), r).map((k) => ({ ...acc, [key]: k })));
      const leases = state.leases.filter((l) => l !== input.lease);
      return results.map((acc) => ({ keys: withKeys(state, acc).keys, leases }));
    }
  }
}

function hashKey(key: string, k: CoordKey): string {
  const b = k.base;
  const rev = typeof b.revision === 'number' ? `${b.revision}` : `>${b.revision.atLeast}`;
  if (b.value === undefined) return `${key.length}:${key}-${b.floor};`;
  return `${key.length}:${key}=${rev},${b.floor},${k.created},${k.lease ?? ''}:${b.value.length}:${b.value};`;
}

function describeInput(input: CoordInput): string {
  switch (input.kind) {
    case 'get':
      return `get(${input.key})`;
    case 'put':
      return `put(${input.key}, ${JSON.stringify(input.value)}${input.ifRevision === undefined ? '' : ` if rev ${input.ifRevision}`}${input.lease ? ` lease ${input.lease}` : ''})`;
    case 'delete':
      return `delete(${input.key}${input.ifRevision === undefined ? '' : ` if rev ${input.ifRevision}`})`;
    case 'txn':
      return `txn(${JSON.stringify(input.compare)} ? ${JSON.stringify(input.success)} : ${JSON.stringify(input.failure)})`;
    case 'lease-grant':
      return 'lease-grant';
    default:
      return `${input.kind}(${input.lease})`;
  }
}

export function describeCoordOperation(op: CoordOperation): string {
  return `c${op.clientId} ${describeInput(op.input)} -> ${op.output === undefined ? '? (unknown outcome)' : JSON.stringify(op.output)} ${formatInterval(op)}`;
}

/** The keys and leases an operation may touch, as graph nodes (`k:` keys, `l:` leases), given every key of the history. */
function nodesOf(op: CoordOperation, allKeys: readonly string[], keysOfLease: ReadonlyMap<string, Set<string>>): string[] {
  const input = op.input;
  switch (input.kind) {
    case 'get':
    case 'delete':
      return [`k:${input.key}`];
    case 'put':
      return input.lease === undefined ? [`k:${input.key}`] : [`k:${input.key}`, `l:${input.lease}`];
    case 'txn': {
      const nodes = txnKeys(input).map((k) => `k:${k}`);
      for (const o of [...input.success, ...input.failure]) {
        if ('deletePrefix' in o) for (const k of allKeys) if (k.startsWith(o.deletePrefix.prefix)) nodes.push(`k:${k}`);
        if ('put' in o && o.put.lease !== undefined) nodes.push(`l:${o.put.lease}`);
      }
      return nodes;
    }
    case 'lease-grant':
      return op.output?.kind === 'lease' ? [`l:${op.output.lease}`] : [];
    default:
      return [`l:${input.lease}`, ...[...(keysOfLease.get(input.lease) ?? [])].map((k) => `k:${k}`)];
  }
}

export const coordinationModel: Model<CoordState, CoordInput, CoordOutput> = {
  init(): CoordState {
    return { keys: {}, leases: [] };
  },

  step: stepCoordination,

  hash(state: CoordState): string {
    let h = state.leases.join(',') + '|';
    for (const key of Object.keys(state.keys).sort()) h += hashKey(key, state.keys[key]!);
    return h;
  },

  /** Independent parts: operations connected through the keys and leases they touch. */
  partition(history: readonly CoordOperation[]): readonly (readonly CoordOperation[])[] {
    const allKeys = new Set<string>();
    const keysOfLease = new Map<string, Set<string>>();
    const attach = (lease: string, key: string): void => {
      let set = keysOfLease.get(lease);
      if (!set) keysOfLease.set(lease, (set = new Set()));
      set.add(key);
    };
    for (const op of history) {
      const i = op.input;
      if (i.kind === 'txn') {
        for (const k of txnKeys(i)) allKeys.add(k);
        for (const o of [...i.success, ...i.failure]) if ('put' in o && o.put.lease !== undefined) attach(o.put.lease, o.put.key);
      } else if ('key' in i) {
        allKeys.add(i.key);
        if (i.kind === 'put' && i.lease !== undefined) attach(i.lease, i.key);
      }
    }
    const keys = [...allKeys];
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let root = x;
      while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root)!;
      parent.set(x, root);
      return root;
    };
    const nodes = history.map((op) => nodesOf(op, keys, keysOfLease));
    for (const ns of nodes) {
      for (const n of ns) if (!parent.has(n)) parent.set(n, n);
      for (let j = 1; j < ns.length; j++) parent.set(find(ns[j]!), find(ns[0]!));
    }
    const parts = new Map<string, CoordOperation[]>();
    history.forEach((op, i) => {
      const ns = nodes[i]!;
      const root = ns.length > 0 ? find(ns[0]!) : `op:${i}`;
      const list = parts.get(root);
      if (list) list.push(op);
      else parts.set(root, [op]);
    });
    return [...parts.values()];
  },

  describe: describeCoordOperation,

  describeState(state: CoordState): string {
    const keys = Object.keys(state.keys).sort();
    const parts = keys.map((k) => {
      const c = state.keys[k]!;
      if (c.base.value === undefined) return `${k}: absent (floor ${c.base.floor})`;
      const r = c.base.revision;
      return `${k} = ${JSON.stringify(c.base.value)} rev ${typeof r === 'number' ? r : `>= ${r.atLeast}`} created ${c.created}${c.lease ? ` lease ${c.lease}` : ''}`;
    });
    return `${parts.length ? parts.join(', ') : 'all keys absent'}; leases [${state.leases.join(', ')}]`;
  },

  readOnly(input: CoordInput, output: CoordOutput | undefined): boolean {
    if (output === undefined) return input.kind === 'get' || input.kind === 'lease-keepalive';
    if (output.kind === 'rejected' || output.kind === 'lease-kept') return true;
    if (input.kind === 'get' || input.kind === 'lease-keepalive') return true;
    return input.kind === 'put' && output.kind === 'put' && !output.ok;
  },

  expired(state: CoordState, input: CoordInput, output: CoordOutput | undefined): boolean {
    if (output === undefined) return false;
    if ((input.kind === 'put' || input.kind === 'get' || (input.kind === 'delete' && input.ifRevision === undefined)) && (output.kind === 'put' || output.kind === 'get' || output.kind === 'delete')) {
      if (input.kind === 'put' && input.lease !== undefined) return false;
      return keyExpired(keyOf(state, input.key).base, input, output as KvOutput);
    }
    if (input.kind === 'txn' && output.kind === 'txn') {
      const ops = output.succeeded ? input.success : input.failure;
      return ops.some((op) => 'put' in op && keyOf(state, op.put.key).base.floor >= output.revision);
    }
    if (output.kind === 'lease-ended') return output.keys.some((k) => keyOf(state, k).base.floor >= output.revision);
    return false;
  },

  subsumes(a: CoordState, b: CoordState): boolean {
    if (a.leases.join(',') !== b.leases.join(',')) return false;
    for (const key of new Set([...Object.keys(a.keys), ...Object.keys(b.keys)])) {
      const x = keyOf(a, key);
      const y = keyOf(b, key);
      if (!keySubsumes(x.base, y.base)) return false;
      if (x.base.value !== undefined && (x.created !== y.created || x.lease !== y.lease)) return false;
    }
    return true;
  },
};
