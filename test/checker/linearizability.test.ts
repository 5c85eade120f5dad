import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { checkLinearizability, describeOperation, type Model, type Operation } from '../../sim/checker/linearizability.ts';

// A single read/write register, defined here to show the checker knows nothing about KV.
type RegInput = { readonly op: 'write'; readonly value: number } | { readonly op: 'read' };
type RegOutput = { readonly value: number };

const register: Model<number, RegInput, RegOutput> = {
  init: () => 0,
  step(state, input, output) {
    if (input.op === 'write') return [input.value];
    if (output === undefined) return [state];
    return output.value === state ? [state] : [];
  },
  hash: (state) => String(state),
};

/** The same register with the optional hooks (reads are read-only, described briefly). */
const describedRegister: Model<number, RegInput, RegOutput> = {
  ...register,
  describe: (op) =>
    `c${op.clientId} ${op.input.op === 'write' ? `write(${op.input.value})` : 'read()'}` +
    (op.output === undefined ? '' : ` -> ${op.output.value}`) +
    ` [${op.call}, ${op.return}]`,
  describeState: (s) => `register = ${s}`,
  readOnly: (input) => input.op === 'read',
};

type RegOp = Operation<RegInput, RegOutput>;

function w(clientId: number, value: number, call: number, ret: number): RegOp {
  return { clientId, input: { op: 'write', value }, call, return: ret, output: ret === Infinity ? undefined : { value } };
}
function r(clientId: number, value: number, call: number, ret: number): RegOp {
  return { clientId, input: { op: 'read' }, call, return: ret, output: { value } };
}

/** Several registers addressed by name; partitioned by name. */
type MultiInput = { readonly reg: string; readonly inner: RegInput };
const multiRegister: Model<Readonly<Record<string, number>>, MultiInput, RegOutput> = {
  init: () => ({}),
  step(state, input, output) {
    const cur = state[input.reg] ?? 0;
    return register.step(cur, input.inner, output).map((v) => ({ ...state, [input.reg]: v }));
  },
  hash: (state) => JSON.stringify(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : 1))),
  partition(history) {
    const by = new Map<string, Operation<MultiInput, RegOutput>[]>();
    for (const op of history) by.set(op.input.reg, [...(by.get(op.input.reg) ?? []), op]);
    return [...by.values()];
  },
};
function on(reg: string, op: RegOp): Operation<MultiInput, RegOutput> {
  return { ...op, input: { reg, inner: op.input } };
}

/** A register whose `flip` sets it to 0 or 1 without saying which: exercises non-deterministic steps. */
type CoinInput = { readonly op: 'flip' } | { readonly op: 'read' };
const coin: Model<number, CoinInput, RegOutput> = {
  init: () => 0,
  step(state, input, output) {
    if (input.op === 'flip') return [0, 1];
    if (output === undefined) return [state];
    return output.value === state ? [state] : [];
  },
  hash: (s) => String(s),
};
function flip(call: number, ret: number): Operation<CoinInput, RegOutput> {
  return { clientId: 1, input: { op: 'flip' }, call, return: ret, output: undefined };
}
function coinRead(value: number, call: number, ret: number): Operation<CoinInput, RegOutput> {
  return { clientId: 2, input: { op: 'read' }, call, return: ret, output: { value } };
}

/**
 * `n` writers all overlapping one another, then reads that each see a different
 * written value, one after the other: only the last write can be visible after
 * all of them, so this is not linearizable, and the search has to work for it.
 */
function hardHistory(n: number): RegOp[] {
  const ops: RegOp[] = [];
  for (let i = 0; i < n; i++) ops.push(w(i + 1, i + 1, i, 1000 + i));
  for (let i = 0; i < n; i++) ops.push(r(100 + i, i + 1, 2000 + 2 * i, 2001 + 2 * i));
  return ops;
}

describe('checkLinearizability with a generic register model', () => {
  for (const [name, model] of [
    ['plain', register],
    ['with optional hooks', describedRegister],
  ] as const) {
    describe(`(${name})`, () => {
      it('accepts an empty history', () => {
        expect(checkLinearizability(model, [])).toEqual({ ok: true });
      });

      it('accepts a sequential history that matches the model', () => {
        const h = [w(1, 1, 1, 2), r(2, 1, 3, 4), w(1, 2, 5, 6), r(2, 2, 7, 8)];
        expect(checkLinearizability(model, h)).toEqual({ ok: true });
      });

      it('accepts a read overlapping a write whichever value it sees', () => {
        for (const seen of [0, 1]) {
          const h = [w(1, 1, 1, 10), r(2, seen, 2, 9)];
          expect(checkLinearizability(model, h)).toEqual({ ok: true });
        }
      });

      it('rejects a read that returns the old value after a write completed', () => {
        const h = [w(1, 1, 1, 2), r(2, 0, 3, 4)];
        expect(checkLinearizability(model, h)).toMatchObject({ ok: false, reason: 'not-linearizable' });
      });

      it('rejects a read seeing the old value after an earlier read saw the new one', () => {
        const h = [w(1, 1, 1, 100), r(2, 1, 2, 3), r(3, 0, 4, 5)];
        expect(checkLinearizability(model, h)).toMatchObject({ ok: false, reason: 'not-linearizable' });
      });

      it('accepts operations given in any order in the array', () => {
        const h = [r(2, 2, 7, 8), w(1, 2, 5, 6), r(2, 1, 3, 4), w(1, 1, 1, 2)];
        expect(checkLinearizability(model, h)).toEqual({ ok: true });
      });

      it('lets an unknown-outcome write take effect after its call when a later read sees it', () => {
        const h = [w(1, 1, 1, 2), w(2, 7, 3, Infinity), r(3, 1, 4, 5), r(3, 7, 10, 11), r(4, 7, 12, 13)];
        expect(checkLinearizability(model, h)).toEqual({ ok: true });
      });

      it('lets an unknown-outcome write be left out when nothing ever sees it', () => {
        const h = [w(1, 1, 1, 2), w(2, 7, 3, Infinity), r(3, 1, 4, 5), r(3, 1, 10, 11)];
        expect(checkLinearizability(model, h)).toEqual({ ok: true });
      });

      it('does not let an unknown-outcome write take effect before its call', () => {
        const h = [w(1, 1, 1, 2), r(3, 7, 4, 5), w(2, 7, 6, Infinity)];
        expect(checkLinearizability(model, h)).toMatchObject({ ok: false, reason: 'not-linearizable' });
      });

      it('does not let an unknown-outcome write take effect twice', () => {
        const h = [w(2, 7, 1, Infinity), r(3, 7, 4, 5), w(1, 1, 6, 7), r(3, 7, 8, 9)];
        expect(checkLinearizability(model, h)).toMatchObject({ ok: false, reason: 'not-linearizable' });
      });

      it('accepts a history made only of unknown-outcome operations', () => {
        expect(checkLinearizability(model, [w(1, 1, 1, Infinity), w(2, 2, 2, Infinity)])).toEqual({ ok: true });
      });

      it('rejects many overlapping writes followed by reads that see them one by one', () => {
        expect(checkLinearizability(model, hardHistory(8))).toMatchObject({ ok: false, reason: 'not-linearizable' });
      });

      it('accepts many overlapping writes when later reads all see the same one', () => {
        const h = hardHistory(8).map((op) => (op.input.op === 'read' ? { ...op, output: { value: 5 } } : op));
        expect(checkLinearizability(model, h)).toEqual({ ok: true });
      });

      it('checks a long sequential history without running out of stack', () => {
        const h: RegOp[] = [];
        for (let i = 0; i < 3000; i++) {
          h.push(i % 2 === 0 ? w(1, i, 2 * i, 2 * i + 1) : r(2, i - 1, 2 * i, 2 * i + 1));
        }
        // Call and return times must be distinct: shift returns by a half.
        const distinct = h.map((op, i) => ({ ...op, call: 2 * i, return: 2 * i + 1.5 }));
        expect(checkLinearizability(model, distinct)).toEqual({ ok: true });
      });
    });
  }

  it('handles a model whose step returns several possible states', () => {
    expect(checkLinearizability(coin, [flip(1, 2), coinRead(1, 3, 4), coinRead(1, 5, 6)])).toEqual({ ok: true });
    expect(checkLinearizability(coin, [flip(1, 2), coinRead(0, 3, 4), flip(5, 6), coinRead(1, 7, 8)])).toEqual({ ok: true });
    expect(checkLinearizability(coin, [flip(1, 2), coinRead(0, 3, 4), coinRead(1, 5, 6)])).toMatchObject({
      ok: false,
      reason: 'not-linearizable',
    });
  });

  it('still tries other orders for a write that happens to leave the state unchanged where it is first tried', () => {
    // `raise(v)` sets the register to max(register, v): a no-op at 7 but not at 3.
    type In = { readonly op: 'write' | 'raise'; readonly value: number } | { readonly op: 'read' };
    const maxRegister: Model<number, In, RegOutput> = {
      init: () => 0,
      step(state, input, output) {
        if (input.op === 'write') return [input.value];
        if (input.op === 'raise') return [Math.max(state, input.value)];
        return output === undefined || output.value === state ? [state] : [];
      },
      hash: (s) => String(s),
      readOnly: (input) => input.op === 'read',
    };
    const at = (clientId: number, input: In, call: number, ret: number, value?: number): Operation<In, RegOutput> => ({
      clientId,
      input,
      call,
      return: ret,
      output: value === undefined ? undefined : { value },
    });
    const h = [
      at(1, { op: 'write', value: 7 }, 1, 2),
      at(2, { op: 'raise', value: 5 }, 3, 20),
      at(3, { op: 'write', value: 3 }, 4, 5),
      at(4, { op: 'read' }, 6, 7, 3),
      at(4, { op: 'read' }, 21, 22, 5),
    ];
    expect(checkLinearizability(maxRegister, h)).toEqual({ ok: true });
  });

  it('checks each partition separately and returns the failing one', () => {
    const h = [on('a', w(1, 1, 1, 2)), on('b', w(2, 5, 3, 4)), on('a', r(3, 1, 5, 6)), on('b', r(4, 0, 7, 8))];
    const verdict = checkLinearizability(multiRegister, h);
    expect(verdict).toMatchObject({ ok: false, reason: 'not-linearizable' });
    if (verdict.ok || verdict.reason !== 'not-linearizable') return;
    expect(verdict.partition).toEqual([h[1], h[3]]);
    expect(checkLinearizability(multiRegister, h.slice(0, 3))).toEqual({ ok: true });
  });

  it('reports budget-exhausted, never ok, when maxSteps is too small', () => {
    const h = [w(1, 1, 1, 2), r(2, 1, 3, 4), w(1, 2, 5, 6), r(2, 2, 7, 8)];
    const verdict = checkLinearizability(register, h, { maxSteps: 2 });
    expect(verdict).toMatchObject({ ok: false, reason: 'budget-exhausted' });
    expect(checkLinearizability(register, h)).toEqual({ ok: true });
  });

  it('reports budget-exhausted for a search too large for the budget, and a verdict with a larger one', () => {
    const small = checkLinearizability(register, hardHistory(8), { maxSteps: 50 });
    expect(small).toMatchObject({ ok: false, reason: 'budget-exhausted' });
    if (small.ok) return;
    expect(small.explanation).toMatch(/budget of 50 steps/);
  });

  it('prefers a definite violation in one partition over an exhausted budget in another', () => {
    const a = hardHistory(6).map((op) => on('a', op));
    const b = [on('b', w(1, 1, 5000, 5001)), on('b', r(2, 0, 5002, 5003))];
    const verdict = checkLinearizability(multiRegister, [...a, ...b], { maxSteps: 30 });
    expect(verdict).toMatchObject({ ok: false, reason: 'not-linearizable', partition: b });
  });

  it('explains a failure with the longest linearizable prefix and the operations that cannot follow it', () => {
    const h = [w(1, 1, 1, 2), r(2, 1, 3, 4), w(1, 2, 5, 6), r(2, 1, 7, 8)];
    const verdict = checkLinearizability(describedRegister, h);
    expect(verdict).toMatchObject({ ok: false, reason: 'not-linearizable' });
    if (verdict.ok) return;
    const lines = verdict.explanation.split('\n');
    expect(lines).toContain('longest linearizable prefix found (3 operations):');
    expect(lines).toContain('  1. c1 write(1) -> 1 [1, 2]');
    expect(lines).toContain('  3. c1 write(2) -> 2 [5, 6]');
    expect(lines).toContain('state after it: register = 2');
    expect(lines).toContain('  - c2 read() -> 1 [7, 8]: impossible in this state');
  });

  it('describes operations as JSON by default when the model has no describe', () => {
    const verdict = checkLinearizability(register, [w(1, 1, 1, 2), r(2, 0, 3, 4)]);
    if (verdict.ok) throw new Error('expected a violation');
    expect(verdict.explanation).toContain('c2 {"op":"read"} -> {"value":0} [call 3, ret 4]: impossible in this state');
    expect(describeOperation(w(2, 7, 3, Infinity))).toBe('c2 {"op":"write","value":7} -> ? [call 3, never returned]');
  });

  it('rejects an operation that returns before it was called', () => {
    expect(() => checkLinearizability(register, [w(1, 1, 5, 4)])).toThrow(RangeError);
  });
});

// --- agreement with a brute-force search ---------------------------------------

/** Every real-time-respecting order of the operations, unknown-outcome ones optional, against the model. */
function bruteForce<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  const placed = history.map(() => false);
  const known = history.filter((o) => o.return !== Infinity).length;
  const search = (state: S, knownPlaced: number): boolean => {
    if (knownPlaced === known) return true;
    return history.some((o, i) => {
      if (placed[i] || history.some((p, j) => !placed[j] && j !== i && p.return < o.call)) return false;
      placed[i] = true;
      const found = model.step(state, o.input, o.output).some((next) => search(next, knownPlaced + (o.return === Infinity ? 0 : 1)));
      placed[i] = false;
      return found;
    });
  };
  return search(model.init(), 0);
}

const smallRegisterHistory: fc.Arbitrary<RegOp[]> = fc
  .array(
    fc.record({
      write: fc.boolean(),
      value: fc.nat(3),
      call: fc.nat(40),
      length: fc.nat(15),
      unknown: fc.nat(5).map((x) => x === 0),
    }),
    { minLength: 1, maxLength: 7 },
  )
  .map((specs) =>
    specs.map((p, i): RegOp => {
      const call = p.call + (i + 1) / 100; // distinct times
      const ret = p.write && p.unknown ? Infinity : call + p.length + 0.5;
      return p.write ? w(i, p.value, call, ret) : r(i, p.value, call, ret);
    }),
  );

describe('checkLinearizability agrees with brute force', () => {
  for (const [name, model] of [
    ['a plain register', register],
    ['a register with read-only hints', describedRegister],
  ] as const) {
    it(`gives the same verdict as trying every order, for small random histories of ${name}`, () => {
      const seen = { ok: 0, violation: 0 };
      fc.assert(
        fc.property(smallRegisterHistory, (history) => {
          const expected = bruteForce(model, history);
          expect(checkLinearizability(model, history).ok).toBe(expected);
          seen[expected ? 'ok' : 'violation']++;
        }),
        { numRuns: 400 },
      );
      expect(seen.ok).toBeGreaterThan(20);
      expect(seen.violation).toBeGreaterThan(20);
    });
  }

  it('gives the same verdict as trying every order, for small random histories of a non-deterministic model', () => {
    const history = fc.array(
      fc.record({ flip: fc.boolean(), value: fc.nat(1), call: fc.nat(30), length: fc.nat(10), unknown: fc.nat(4).map((x) => x === 0) }),
      { minLength: 1, maxLength: 7 },
    );
    fc.assert(
      fc.property(history, (specs) => {
        const h = specs.map((p, i): Operation<CoinInput, RegOutput> => {
          const call = p.call + (i + 1) / 100;
          const ret = p.flip && p.unknown ? Infinity : call + p.length + 0.5;
          return p.flip ? { ...flip(call, ret), clientId: i } : { ...coinRead(p.value, call, ret), clientId: i };
        });
        expect(checkLinearizability(coin, h).ok).toBe(bruteForce(coin, h));
      }),
      { numRuns: 300 },
    );
  });
});
