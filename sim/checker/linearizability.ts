/**
 * # Linearizability checker (Wing–Gong–Lowe search with memoisation)
 *
 * A history is a set of operations, each with the logical time it was called,
 * the time its result was learned (`Infinity` if never) and the result
 * (`undefined` if unknown). The history is linearizable with respect to a
 * sequential `Model` if every operation can be given a single instant inside
 * its [call, return] interval such that executing the operations one by one in
 * that order, from `model.init()`, produces exactly the observed results.
 * Operations whose outcome is unknown (return = Infinity) may take effect at
 * any instant after their call, or never.
 *
 * ## Usage
 *
 * ```ts
 * import { checkLinearizability } from './linearizability.ts';
 * import { kvModel } from './kv-model.ts';
 * const verdict = checkLinearizability(kvModel, history);          // { ok: true } or a reason
 * if (!verdict.ok) console.log(verdict.reason, verdict.explanation);
 * ```
 *
 * A model supplies `init`, `step` (every state the object may be in after an
 * operation; an empty array means the operation cannot have produced that
 * output there; several states express non-determinism or an unknown output)
 * and `hash` (a canonical string of a state). Optional hooks:
 * - `partition` splits the history into independent parts (e.g. one per key;
 *   linearizability is compositional, so each part is checked on its own);
 * - `describe` / `describeState` make failure reports readable;
 * - `readOnly`, `subsumes` and `expired` let the search prune (see below).
 * The verdict is exact whatever the hooks, provided they are truthful.
 *
 * ## Algorithm
 *
 * Call and return events of the operations with a known return are put in a
 * doubly linked list in time order; the calls of operations that never
 * returned go in a second list. A depth-first search builds a linearization one
 * operation at a time: the candidates for the next position are the operations
 * called before the earliest return still in the list. Choosing one steps the
 * model, unlinks ("lifts") its call and return entries and pushes a frame on an
 * explicit stack (no recursion, so histories with thousands of operations are
 * fine). Reaching a return entry means that operation had to be linearized by
 * now, so the search backtracks: pops the frame, restores the state, relinks
 * the entries (dancing links) and tries the next candidate.
 *
 * Memoisation (Lowe): a configuration is the set of linearized operations (a
 * bitset, as a BigInt) together with the model state; a configuration whose
 * subtree failed is never explored again, which turns the exponential search
 * into one that is fast on realistic histories.
 *
 * Operations with unknown outcome and other refinements:
 * - Non-determinism is handled by the power-set construction: the search state
 *   is the set of model states (deduplicated by `hash`) the object may be in.
 * - The search succeeds as soon as every operation with a known return is
 *   linearized; operations that never returned are left out. They are tried
 *   only after the known candidates, and only where they can help: never when
 *   the state without them is at least as permissive, and, right after other
 *   unknown-outcome operations, only if the next operation does better with
 *   them than without (otherwise the search would enumerate every subset of
 *   the pending ones at every dead end).
 * - A failed configuration also rules out every configuration with the same
 *   known operations and state and more unknown-outcome operations linearized
 *   (those have strictly fewer options left).
 * - Partial-order reduction: a candidate that is `readOnly` and leaves the
 *   state exactly unchanged is linearized at once, without trying alternatives
 *   (moving such a read earlier never hurts).
 * - `expired` lets the search backtrack as soon as a pending operation can
 *   never take effect any more (e.g. its log slot has been passed) instead of
 *   when its return is reached.
 * - `maxSteps` bounds the work per partition deterministically; when exceeded
 *   the verdict is 'budget-exhausted', never ok.
 * - On failure the explanation shows the longest linearizable prefix found
 *   (precisely: the one reaching furthest in time, then the longest) and why
 *   none of the operations that could come next can follow it.
 *
 * Pure TypeScript: no Node APIs, no clocks, no randomness (runs in workerd too).
 */

export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  /** Logical time the call was made; all call/return times in one history are distinct numbers. */
  readonly call: number;
  /** Logical time the result was learned; Infinity when the client never learned the outcome. */
  readonly return: number;
  /** undefined when the outcome is unknown (the operation may or may not have taken effect). */
  readonly output: O | undefined;
}

export interface Model<S, I, O> {
  init(): S;
  /** Every state the object may be in after `input` took effect at `state` producing `output`
   *  (output undefined = unknown outcome: any output is acceptable). Empty array = impossible here. */
  step(state: S, input: I, output: O | undefined): readonly S[];
  /** Canonical string of a state, for memoisation. */
  hash(state: S): string;
  /** Optional: split a history into independent sub-histories (e.g. per key); checked separately. */
  partition?(history: readonly Operation<I, O>[]): readonly (readonly Operation<I, O>[])[];
  /** Optional: human-readable operation, used in failure reports. */
  describe?(op: Operation<I, O>): string;
  /** Optional: human-readable state, used in failure reports. */
  describeState?(state: S): string;
  /**
   * Optional: true when an operation with this input and output never changes
   * the object: every state `step` returns for it is the given state itself or
   * a refinement of it (a state from which every continuation accepted is also
   * accepted from the given state). Reads are the typical case. Lets the
   * checker commit to a read that leaves the state unchanged instead of trying
   * alternatives.
   */
  readOnly?(input: I, output: O | undefined): boolean;
  /**
   * Optional: true when the operation cannot take effect at `state` nor at any
   * state reachable from it (e.g. its reported log slot is already passed).
   * When a pending operation with a known return is expired the search
   * backtracks at once instead of when that operation's return is reached.
   */
  expired?(state: S, input: I, output: O | undefined): boolean;
  /**
   * Optional: true when state `a` is at least as permissive as `b`: every
   * sequence of operations (with outputs) accepted from `b` is also accepted
   * from `a`. Must hold for equal states. Used to prune unknown-outcome
   * operations that cannot help (e.g. one overwritten by the next without being
   * observed); without it only equal hashes count.
   */
  subsumes?(a: S, b: S): boolean;
}

export type CheckResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'not-linearizable';
      /** The failing sub-history. */
      readonly partition: readonly Operation<unknown, unknown>[];
      /** Multi-line: the longest linearizable prefix found and the operations that could not be placed after it. */
      readonly explanation: string;
    }
  | { readonly ok: false; readonly reason: 'budget-exhausted'; readonly explanation: string };

export interface CheckOptions {
  /** Search steps allowed per partition before giving up with 'budget-exhausted'. */
  readonly maxSteps?: number;
}

export const DEFAULT_MAX_STEPS = 5_000_000;

/**
 * Checks `history` against `model`. Partitions (if the model defines
 * `partition`) are checked one by one; a definite violation in any partition
 * wins over a budget exhaustion in another.
 */
export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options?: CheckOptions,
): CheckResult {
  const maxSteps = options?.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!(maxSteps >= 0)) throw new RangeError(`checkLinearizability: maxSteps must be >= 0, got ${maxSteps}`);
  for (const op of history) validate(op);
  const parts = model.partition ? model.partition(history) : [history];
  let exhausted: string | undefined;
  for (const part of parts) {
    const r = checkPartition(model, part, maxSteps);
    if (r.kind === 'ok') continue;
    if (r.kind === 'fail') {
      return { ok: false, reason: 'not-linearizable', partition: part, explanation: r.explanation };
    }
    exhausted ??= r.explanation;
  }
  if (exhausted !== undefined) return { ok: false, reason: 'budget-exhausted', explanation: exhausted };
  return { ok: true };
}

function validate(op: Operation<unknown, unknown>): void {
  if (!Number.isFinite(op.call)) throw new RangeError(`checkLinearizability: call time must be finite, got ${op.call}`);
  if (Number.isNaN(op.return) || op.return < op.call) {
    throw new RangeError(`checkLinearizability: return time ${op.return} is before call time ${op.call}`);
  }
}

// ---------------------------------------------------------------------------
// Internals

/** An entry of one of the two event lists. The head sentinels have op = -1. */
interface Entry {
  readonly op: number;
  readonly time: number;
  readonly isCall: boolean;
  /** For the call of an operation with a known return: its return entry. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** The set of model states the object may be in, with a canonical key. */
interface StateSet<S> {
  readonly states: readonly S[];
  readonly key: string;
}

interface Frame<S> {
  /** The call entry linearized by this frame. */
  readonly entry: Entry;
  /** The state set before it. */
  readonly before: StateSet<S>;
  /** Committed by the partial-order reduction: no alternatives to try at this depth. */
  readonly committed: boolean;
  /** For an unknown-outcome op: the time of the earliest pending return when it was chosen. */
  readonly limit: number;
}

type PartitionResult = { readonly kind: 'ok' } | { readonly kind: 'fail' | 'budget'; readonly explanation: string };

function newEntry(op: number, time: number, isCall: boolean): Entry {
  return { op, time, isCall, match: null, prev: null, next: null };
}

function link(head: Entry, entries: readonly Entry[]): void {
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  prev.next = null;
}

function unlinkOne(e: Entry): void {
  e.prev!.next = e.next;
  if (e.next !== null) e.next.prev = e.prev;
}

function relinkOne(e: Entry): void {
  e.prev!.next = e;
  if (e.next !== null) e.next.prev = e;
}

/** Removes a call entry (and its return entry) from its list. */
function lift(call: Entry): void {
  unlinkOne(call);
  if (call.match !== null) unlinkOne(call.match);
}

/** Undoes `lift`; lifts must be undone in reverse order. */
function unlift(call: Entry): void {
  if (call.match !== null) relinkOne(call.match);
  relinkOne(call);
}

function byTime(a: Entry, b: Entry): number {
  // Times are distinct by contract; on a tie a call sorts first (the operations then overlap).
  if (a.time !== b.time) return a.time - b.time;
  if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
  return a.op - b.op;
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], maxSteps: number): PartitionResult {
  const n = ops.length;
  const known: boolean[] = new Array<boolean>(n);
  const readOnly: boolean[] = new Array<boolean>(n);
  const bits: bigint[] = new Array<bigint>(n);
  const mainHead = newEntry(-1, -Infinity, true);
  const unknownHead = newEntry(-1, -Infinity, true);
  const mainEntries: Entry[] = [];
  const unknownEntries: Entry[] = [];
  let knownLeft = 0;
  let anyReadOnly = false;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const isKnown = op.return !== Infinity;
    known[i] = isKnown;
    const ro = isKnown && model.readOnly !== undefined && model.readOnly(op.input, op.output);
    readOnly[i] = ro;
    anyReadOnly ||= ro;
    bits[i] = 1n << BigInt(isKnown ? knownLeft : unknownEntries.length);
    const call = newEntry(i, op.call, true);
    if (isKnown) {
      const ret = newEntry(i, op.return, false);
      call.match = ret;
      mainEntries.push(call, ret);
      knownLeft++;
    } else {
      unknownEntries.push(call);
    }
  }
  if (knownLeft === 0) return { kind: 'ok' };
  mainEntries.sort(byTime);
  unknownEntries.sort(byTime);
  link(mainHead, mainEntries);
  link(unknownHead, unknownEntries);

  const stepSet = (cur: StateSet<S>, i: number): StateSet<S> | null => stepStates(model, cur, ops[i]!);

  // Memo of configurations whose every continuation failed, recorded when
  // their frame is popped: linearized known ops -> state key -> the sets of
  // linearized unknown-outcome ops seen with them. A configuration is pruned
  // when a failed one has the same known ops, the same state and a subset of
  // its unknown-outcome ops (which leaves strictly more options open). With no
  // unknown-outcome ops this is exactly WGL's memo of (linearized set, state);
  // configurations still on the stack never recur, since sets only grow.
  const failed = new Map<bigint, Map<string, bigint[]>>();
  const hasFailed = (linK: bigint, linU: bigint, key: string): boolean => {
    const list = failed.get(linK)?.get(key);
    if (list === undefined) return false;
    for (const f of list) if ((f & linU) === f) return true;
    return false;
  };
  const recordFailed = (linK: bigint, linU: bigint, key: string): void => {
    let byState = failed.get(linK);
    if (byState === undefined) failed.set(linK, (byState = new Map()));
    const list = byState.get(key);
    if (list === undefined) byState.set(key, [linU]);
    else list.push(linU);
  };

  const init = model.init();
  let cur: StateSet<S> = { states: [init], key: model.hash(init) };
  let linK = 0n; // linearized known-return ops
  let linU = 0n; // linearized unknown-outcome ops
  const stack: Frame<S>[] = [];
  let steps = 0;

  // The furthest prefix, for the failure report: the one whose earliest pending
  // return is latest (it accounts for everything that returned before), then
  // the longest. Saved lazily, when the search first backs out of it.
  let bestHorizon = -Infinity;
  let bestDepth = 0;
  let bestSaved = true;
  let bestPrefix: number[] = [];

  /** Linearizes `entry` next, reaching `next`, unless that configuration is known to fail. */
  const tryPush = (entry: Entry, next: StateSet<S>, committed: boolean, limit: number): boolean => {
    const i = entry.op;
    const isKnown = known[i]!;
    const nk = isKnown ? linK ^ bits[i]! : linK;
    const nu = isKnown ? linU : linU ^ bits[i]!;
    if (hasFailed(nk, nu, next.key)) return false;
    stack.push({ entry, before: cur, committed, limit });
    lift(entry);
    cur = next;
    linK = nk;
    linU = nu;
    if (isKnown) knownLeft--;
    let horizon = Infinity;
    for (let e = mainHead.next; e !== null; e = e.next) {
      if (!e.isCall) {
        horizon = e.time;
        break;
      }
    }
    if (horizon > bestHorizon || (horizon === bestHorizon && stack.length > bestDepth)) {
      bestHorizon = horizon;
      bestDepth = stack.length;
      bestSaved = false;
    }
    return true;
  };

  const pop = (): Frame<S> => {
    if (!bestSaved && stack.length === bestDepth) {
      // Frames below bestDepth are unchanged since the best was reached.
      bestPrefix = stack.map((f) => f.entry.op);
      bestSaved = true;
    }
    recordFailed(linK, linU, cur.key);
    const f = stack.pop()!;
    unlift(f.entry);
    cur = f.before;
    const i = f.entry.op;
    if (known[i]) {
      linK ^= bits[i]!;
      knownLeft++;
    } else {
      linU ^= bits[i]!;
    }
    return f;
  };

  /**
   * Whether linearizing op `i` now, reaching `next`, can help. Always, except:
   * - an unknown-outcome op is useless when the current state is at least as
   *   permissive as `next` (leaving it out is then as good);
   * - right after a run of unknown-outcome ops, an op that would do at least
   *   as well placed before any suffix of that run (at a configuration already
   *   on the stack, so explored anyway, with those ops still pending) is
   *   useless here. So an unknown-outcome op is only ever placed where the next
   *   operation makes use of it, which keeps the search from enumerating
   *   subsets of pending unknown-outcome operations at every dead end.
   */
  const useful = (i: number, next: StateSet<S>): boolean => {
    if (!known[i] && subsumesSet(model, cur, next)) return false;
    for (let d = stack.length - 1; d >= 0; d--) {
      const f = stack[d]!;
      if (known[f.entry.op]) break;
      steps++;
      const instead = stepSet(f.before, i);
      if (instead !== null && subsumesSet(model, instead, next)) return false;
    }
    return true;
  };

  /** Whether some pending operation with a known return can no longer take effect. */
  const expired = model.expired;
  const stuck = (): boolean => {
    if (expired === undefined) return false;
    for (let e = mainHead.next; e !== null && e.isCall; e = e.next) {
      steps++;
      const op = ops[e.op]!;
      if (cur.states.every((st) => expired(st, op.input, op.output))) return true;
    }
    return false;
  };

  // Scan cursor: in the main list (phase 1) or, past the first return entry,
  // in the unknown-outcome list (phase 2) up to `limit`.
  let cursor: Entry | null = mainHead.next;
  let inUnknown = false;
  let limit = 0;
  let fresh = true;

  for (;;) {
    if (++steps > maxSteps) {
      return {
        kind: 'budget',
        explanation:
          `search budget of ${maxSteps} steps exhausted on a partition of ${n} operations ` +
          `(${n - known.filter(Boolean).length} with unknown outcome); longest linearizable prefix found: ${bestDepth} operations`,
      };
    }

    let backtrack = false;
    let advanced = false;

    if (fresh) {
      fresh = false;
      if (anyReadOnly) {
        // Partial-order reduction: commit to a read that leaves the state unchanged.
        for (let e = mainHead.next; e !== null && e.isCall; e = e.next) {
          if (!readOnly[e.op]) continue;
          steps++;
          const next = stepSet(cur, e.op);
          if (next === null || next.key !== cur.key) continue;
          if (tryPush(e, next, true, 0)) advanced = true;
          else backtrack = true; // explored before, and it failed: so does this configuration
          break;
        }
      }
    }

    if (!advanced && !backtrack) {
      const e: Entry | null = cursor;
      if (!inUnknown && e !== null && !e.isCall) {
        // The earliest pending return: known candidates are exhausted; try unknown-outcome ones.
        inUnknown = true;
        limit = e.time;
        cursor = unknownHead.next;
        continue;
      }
      if (e === null || (inUnknown && e.time > limit)) {
        backtrack = true;
      } else {
        const next = stepSet(cur, e.op);
        cursor = e.next;
        if (next !== null && useful(e.op, next)) {
          advanced = tryPush(e, next, false, inUnknown ? limit : 0);
        }
        if (!advanced) continue;
      }
    }

    if (advanced) {
      if (knownLeft === 0) return { kind: 'ok' };
      if (!stuck()) {
        fresh = true;
        cursor = mainHead.next;
        inUnknown = false;
        continue;
      }
    }

    // Backtrack to the deepest frame with alternatives left.
    let f: Frame<S> | undefined;
    for (;;) {
      if (stack.length === 0) {
        // bestPrefix is saved: the search backed out of the best configuration on its way here.
        return { kind: 'fail', explanation: explainFailure(model, ops, bestPrefix) };
      }
      f = pop();
      if (!f.committed) break;
    }
    cursor = f.entry.next;
    inUnknown = !known[f.entry.op];
    limit = f.limit;
  }
}

function stepStates<S, I, O>(model: Model<S, I, O>, cur: StateSet<S>, op: Operation<I, O>): StateSet<S> | null {
  const states = cur.states;
  if (states.length === 1) {
    const next = model.step(states[0]!, op.input, op.output);
    if (next.length === 0) return null;
    if (next.length === 1) return { states: next, key: model.hash(next[0]!) };
    return canonical(model, next);
  }
  const all: S[] = [];
  for (const s of states) for (const t of model.step(s, op.input, op.output)) all.push(t);
  if (all.length === 0) return null;
  if (all.length === 1) return { states: all, key: model.hash(all[0]!) };
  return canonical(model, all);
}

/** Whether state set `a` is at least as permissive as `b`: each state of `b` is subsumed by one of `a`. */
function subsumesSet<S, I, O>(model: Model<S, I, O>, a: StateSet<S>, b: StateSet<S>): boolean {
  if (a.key === b.key) return true;
  const sub = model.subsumes;
  if (a.states.length === 1 && b.states.length === 1) return sub !== undefined && sub(a.states[0]!, b.states[0]!);
  const aKeys = a.states.map((s) => model.hash(s));
  return b.states.every((bs) => {
    const bk = model.hash(bs);
    return a.states.some((as, j) => aKeys[j] === bk || (sub !== undefined && sub(as, bs)));
  });
}

function canonical<S, I, O>(model: Model<S, I, O>, list: readonly S[]): StateSet<S> {
  const byKey = new Map<string, S>();
  for (const s of list) {
    const k = model.hash(s);
    if (!byKey.has(k)) byKey.set(k, s);
  }
  if (byKey.size === 1) {
    for (const [k, s] of byKey) return { states: [s], key: k };
  }
  const keys = [...byKey.keys()].sort();
  return { states: keys.map((k) => byKey.get(k)!), key: '\u0000' + JSON.stringify(keys) };
}

// ---------------------------------------------------------------------------
// Failure reports

/** Default description of an operation when the model has no `describe`. */
export function describeOperation(op: Operation<unknown, unknown>): string {
  const out = op.output === undefined ? '?' : JSON.stringify(op.output);
  return `c${op.clientId} ${JSON.stringify(op.input)} -> ${out} ${formatInterval(op)}`;
}

/** `[call 3, ret 7]`, or `[call 3, never returned]`. */
export function formatInterval(op: Operation<unknown, unknown>): string {
  return op.return === Infinity ? `[call ${op.call}, never returned]` : `[call ${op.call}, ret ${op.return}]`;
}

const MAX_LISTED = 40;

function explainFailure<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], prefix: readonly number[]): string {
  const describe = (op: Operation<I, O>): string =>
    model.describe ? model.describe(op) : describeOperation(op as Operation<unknown, unknown>);
  const describeSet = (set: StateSet<S>): string =>
    set.states.map((s) => (model.describeState ? model.describeState(s) : model.hash(s))).join(' | ');

  const unknownCount = ops.filter((o) => o.return === Infinity).length;
  const lines: string[] = [];
  lines.push(
    `not linearizable: no valid order for these ${ops.length} operations` +
      (unknownCount > 0 ? ` (${unknownCount} with unknown outcome, which may also be left out)` : ''),
  );

  const init = model.init();
  let state: StateSet<S> = { states: [init], key: model.hash(init) };
  const placed = new Set<number>();
  for (const i of prefix) {
    const next = stepStates(model, state, ops[i]!);
    if (next === null) break; // cannot happen: the prefix was valid during the search
    state = next;
    placed.add(i);
  }

  lines.push(`longest linearizable prefix found (${prefix.length} operations):`);
  if (prefix.length === 0) lines.push('  (none)');
  const shown = prefix.length > MAX_LISTED ? prefix.slice(prefix.length - MAX_LISTED) : prefix;
  if (shown.length < prefix.length) lines.push(`  ... ${prefix.length - shown.length} earlier operations omitted`);
  shown.forEach((i, k) => lines.push(`  ${prefix.length - shown.length + k + 1}. ${describe(ops[i]!)}`));
  lines.push(`state after it: ${describeSet(state)}`);

  const rest = ops.map((_, i) => i).filter((i) => !placed.has(i));
  let deadline = Infinity;
  let deadlineOp = -1;
  for (const i of rest) {
    const r = ops[i]!.return;
    if (r < deadline) {
      deadline = r;
      deadlineOp = i;
    }
  }
  // Operations with a known return first, then those that never returned; each by call time.
  const never = (i: number): number => (ops[i]!.return === Infinity ? 1 : 0);
  const candidates = rest
    .filter((i) => ops[i]!.call < deadline)
    .sort((a, b) => never(a) - never(b) || ops[a]!.call - ops[b]!.call);
  if (deadlineOp >= 0) {
    lines.push(`next, one of these had to take effect (${describe(ops[deadlineOp]!)} returned at ${deadline}), but none can:`);
  }
  for (const i of candidates.slice(0, MAX_LISTED)) {
    const next = stepStates(model, state, ops[i]!);
    const why =
      next === null
        ? 'impossible in this state'
        : ops[i]!.return === Infinity
          ? 'possible here, but no continuation after it works either (unknown outcome: may also be left out)'
          : 'possible here, but no continuation after it works';
    lines.push(`  - ${describe(ops[i]!)}: ${why}`);
  }
  if (candidates.length > MAX_LISTED) lines.push(`  ... and ${candidates.length - MAX_LISTED} more`);
  const later = rest.length - candidates.length;
  if (later > 0) lines.push(`(${later} further operations not yet placed)`);
  return lines.join('\n');
}
