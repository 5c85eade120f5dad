/**
 * The sequential specification of a keyspace, as a `Model` for the
 * linearizability checker: one object holding every key of the keyspace,
 * whatever shard each lives on, so a cross-shard transaction is one
 * operation over several keys and a history that shows half of one (a reader
 * seeing one shard's write and not another's, a write applied on one shard
 * only) has no linearization.
 *
 * The state is values only: revisions are per shard in a keyspace and no
 * client may compare them across shards, so the model does not track them.
 * Compares are on values, or `revision == 0` / `!= 0` (absent / present);
 * any other revision compare may go either way (erring towards accepting).
 * Operations are partitioned by the keys they share (a transaction joins its
 * keys into one partition), which keeps the search small.
 */
import type { TxnCompare, TxnOp } from '../../src/core/index.ts';
import type { Model, Operation } from './linearizability.ts';

export type KeyspaceInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'txn'; readonly compare: readonly TxnCompare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] };

export type KeyspaceOutput =
  | { readonly kind: 'put' }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'delete'; readonly deleted: boolean }
  /** `gets`: the value each get of the applied branch saw, in order (null: absent). */
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly gets: readonly (string | null)[] };

/** Sorted [key, value] pairs of the present keys. */
type State = readonly (readonly [string, string])[];

function toMap(s: State): Map<string, string> {
  return new Map(s);
}

function fromMap(m: Map<string, string>): State {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether a compare holds on `m`: true, false, or null when the model cannot tell (a revision other than 0). */
function holds(m: Map<string, string>, c: TxnCompare): boolean | null {
  const v = m.get(c.key);
  if (c.target === 'value') {
    if (v === undefined) return false;
    return c.op === '==' ? v === c.value : v !== c.value;
  }
  if (c.value === 0 && (c.op === '==' || c.op === '!=')) return c.op === '==' ? v === undefined : v !== undefined;
  return null;
}

/** Apply a branch to a copy of `m`: the new map and what its gets saw. */
function run(m: Map<string, string>, ops: readonly TxnOp[]): { next: Map<string, string>; gets: (string | null)[] } {
  const next = new Map(m);
  const gets: (string | null)[] = [];
  for (const op of ops) {
    if ('put' in op) next.set(op.put.key, op.put.value);
    else if ('delete' in op) next.delete(op.delete.key);
    else if ('get' in op) gets.push(next.get(op.get.key) ?? null);
  }
  return { next, gets };
}

export function keysOf(input: KeyspaceInput): string[] {
  if (input.kind !== 'txn') return [input.key];
  const keys = new Set(input.compare.map((c) => c.key));
  for (const op of [...input.success, ...input.failure]) {
    if ('put' in op) keys.add(op.put.key);
    else if ('delete' in op) keys.add(op.delete.key);
    else if ('get' in op) keys.add(op.get.key);
  }
  return [...keys];
}

function sameGets(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export const keyspaceModel: Model<State, KeyspaceInput, KeyspaceOutput> = {
  init: () => [],
  hash: (s) => JSON.stringify(s),
  step(state, input, output) {
    const m = toMap(state);
    switch (input.kind) {
      case 'put': {
        const next = new Map(m);
        next.set(input.key, input.value);
        return [fromMap(next)];
      }
      case 'delete': {
        const had = m.has(input.key);
        if (output && output.kind === 'delete' && output.deleted !== had) return [];
        const next = new Map(m);
        next.delete(input.key);
        return [fromMap(next)];
      }
      case 'get': {
        if (!output) return [state];
        if (output.kind !== 'get') return [];
        return (m.get(input.key) ?? null) === output.value ? [state] : [];
      }
      case 'txn': {
        const verdicts = input.compare.map((c) => holds(m, c));
        const could = { success: verdicts.every((v) => v !== false), failure: verdicts.some((v) => v !== true) };
        const out: State[] = [];
        for (const branch of ['success', 'failure'] as const) {
          if (!could[branch]) continue;
          if (output && output.kind === 'txn' && output.succeeded !== (branch === 'success')) continue;
          const { next, gets } = run(m, branch === 'success' ? input.success : input.failure);
          if (output && output.kind === 'txn' && !sameGets(gets, output.gets)) continue;
          if (output && output.kind !== 'txn') continue;
          out.push(fromMap(next));
        }
        return out;
      }
    }
  },
  readOnly(input) {
    if (input.kind === 'get') return true;
    return input.kind === 'txn' && [...input.success, ...input.failure].every((op) => 'get' in op);
  },
  partition(history) {
    // Union-find over keys: operations that share a key (directly or through a transaction) are checked together.
    const parent = new Map<string, string>();
    const find = (k: string): string => {
      let r = k;
      while (parent.get(r) !== r) r = parent.get(r)!;
      parent.set(k, r);
      return r;
    };
    for (const op of history) {
      const keys = keysOf(op.input);
      for (const k of keys) if (!parent.has(k)) parent.set(k, k);
      for (const k of keys.slice(1)) parent.set(find(k), find(keys[0]!));
    }
    const groups = new Map<string, Operation<KeyspaceInput, KeyspaceOutput>[]>();
    for (const op of history) {
      const root = find(keysOf(op.input)[0]!);
      let g = groups.get(root);
      if (!g) groups.set(root, (g = []));
      g.push(op);
    }
    return [...groups.values()];
  },
  describe(op) {
    const i = op.input;
    const what = i.kind === 'txn' ? `txn(${JSON.stringify({ compare: i.compare, success: i.success, failure: i.failure })})` : i.kind === 'put' ? `put(${i.key}=${i.value})` : `${i.kind}(${i.key})`;
    return `client ${op.clientId} ${what} -> ${op.output === undefined ? 'unknown' : JSON.stringify(op.output)} [${op.call}, ${op.return}]`;
  },
  describeState: (s) => JSON.stringify(s),
};
