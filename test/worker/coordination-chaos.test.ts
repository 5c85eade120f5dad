import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgePaxosClient, type TxnOp as ApiTxnOp, type TxnRequest, isEdgePaxosError, watchForever } from '../../src/client/index.ts';
import type { TxnCompare, TxnOp } from '../../src/core/index.ts';
import { type CoordInput, type CoordOperation, type CoordOutput, type CoordTxnResult, coordinationModel } from '../../sim/checker/coordination-model.ts';
import { checkLinearizability } from '../../sim/checker/linearizability.ts';
import { type ClientWrite, type WatchedEvent, checkWatchAgainstWrites } from '../../sim/checker/watch-checker.ts';
import { admin, api, crash, eventually, sleep, stableLeader, streamConfig } from './helpers.ts';
import { TEST_TOKENS } from './test-config.ts';

// Transactions, lock contention and a watch together, through leader crashes
// and partitions (the chaos API): the transactions' history must be
// linearizable (coordination model), the watch must deliver every
// acknowledged change once and in order, and lock holders' fencing tokens
// must increase with critical sections that never overlap.

const S = 'coord-chaos';
const paxos = new EdgePaxosClient({ url: 'https://edgepaxos.test', token: TEST_TOKENS.writer, fetch: (input, init) => exports.default.fetch(input, init) });
const ACCOUNTS = ['bank/a', 'bank/b', 'bank/c'];
const LEASE_TTL_MS = 5000;
/** Operations per bank client (a read and a transfer, or an audit, each): the history stays small enough to check at once. */
const BANK_ROUNDS = 12;
/** Lock turns each locker tries for. */
const LOCK_TURNS = 3;
/** The rule's drift allowance (docs/coordination.md): 2 % of the TTL. */
const DRIFT_ALLOWANCE_MS = LEASE_TTL_MS / 50;

/** The API's transaction in the checker's (and the state machine's) terms. */
function coreOps(ops: readonly ApiTxnOp[]): TxnOp[] {
  return ops.map((o) => ('put' in o ? { put: { key: o.put.key, value: o.put.value } } : 'delete' in o ? { delete: o.delete } : 'delete_prefix' in o ? { deletePrefix: o.delete_prefix } : { get: o.get }));
}

function txnOutput(ops: readonly TxnOp[], body: any): CoordOutput {
  const results: CoordTxnResult[] = body.results.map((r: any, i: number) => {
    const op = ops[i]!;
    if ('put' in op) return { kind: 'put', revision: r.revision };
    if ('get' in op) return { kind: 'get', key: r.key, item: r.found === false ? null : { value: r.value, revision: r.revision, createRevision: r.create_revision } };
    return { kind: 'delete', deleted: r.deleted };
  });
  return { kind: 'txn', succeeded: body.succeeded, revision: body.revision, results };
}

describe('coordination under faults', () => {
  it('coordination: concurrent transactions, lock contention and a watch through leader crashes and partitions stay linearizable, fenced and complete', async () => {
    await stableLeader(S);
    let clock = 0;
    let stop = false;
    /** Transactions answered while the faults were under way (the run must overlap them). */
    let faultsOver = false;
    let answeredDuringFaults = 0;
    const history: CoordOperation[] = [];
    const writes: ClientWrite[] = [];
    const seed = await paxos.txn(S, { success: ACCOUNTS.map((key) => ({ put: { key, value: '100' } })) });
    history.push({ clientId: 0, input: { kind: 'txn', compare: [], success: coreOps(ACCOUNTS.map((key) => ({ put: { key, value: '100' } }))), failure: [] }, call: ++clock, return: ++clock, output: { kind: 'txn', succeeded: true, revision: seed.revision, results: ACCOUNTS.map(() => ({ kind: 'put' as const, revision: seed.revision })) } });
    for (const key of ACCOUNTS) writes.push({ type: 'put', key, value: '100', revision: seed.revision });

    // The watcher: every change under bank/, across reconnections (each connection lasts a second).
    const watched: WatchedEvent[] = [];
    const stopWatch = new AbortController();
    let coveredThrough = 0;
    const watcher = (async () => {
      for await (const e of watchForever(paxos, S, { prefix: 'bank/', fromRevision: seed.revision, maxDurationMs: 1000, progressMs: 1000, signal: stopWatch.signal })) {
        watched.push(e as WatchedEvent);
        if (e.type === 'progress') coveredThrough = Math.max(coveredThrough, e.revision);
      }
    })();

    /** One transaction over HTTP, recorded for the checker (a 503 unavailable was never proposed). */
    const runTxn = async (clientId: number, request: TxnRequest, n: number): Promise<any> => {
      const compare = (request.compare ?? []) as TxnCompare[];
      const success = coreOps(request.success ?? []);
      const failure = coreOps(request.failure ?? []);
      const input: CoordInput = { kind: 'txn', compare, success, failure };
      const call = ++clock;
      const res = await api('POST', `/v1/streams/${S}/txn`, request, { 'idempotency-key': `chaos-${clientId}-${n}` });
      if (res.status === 200) {
        if (!faultsOver) answeredDuringFaults += 1;
        history.push({ clientId, input, call, return: ++clock, output: txnOutput(res.body.succeeded ? success : failure, res.body) });
        for (const op of res.body.succeeded ? success : failure) if ('put' in op) writes.push({ type: 'put', key: op.put.key, value: op.put.value, revision: res.body.revision });
        return res.body;
      }
      if (res.status === 503 && res.body.error.code === 'outcome_unknown') {
        history.push({ clientId, input, call, return: Number.POSITIVE_INFINITY, output: undefined });
        for (const op of [...success, ...failure]) if ('put' in op) writes.push({ type: 'put', key: op.put.key, value: op.put.value });
        return null;
      }
      if (res.status !== 503) throw new Error(`unexpected answer ${res.status} ${JSON.stringify(res.body)}`);
      return null;
    };

    // Transfers between accounts, each a compare-and-swap of both balances at the revisions read; and audits of all three.
    const bank = async (clientId: number): Promise<void> => {
      for (let n = 0; n < BANK_ROUNDS && !stop; n++) {
        const [from, to] = [ACCOUNTS[(clientId + n) % 3]!, ACCOUNTS[(clientId + n + 1) % 3]!];
        if (n % 3 === 2) {
          const audit = await runTxn(clientId, { success: ACCOUNTS.map((key) => ({ get: { key } })) }, n);
          if (audit) expect(audit.results.reduce((sum: number, r: any) => sum + Number(r.value), 0)).toBe(300);
          continue;
        }
        const read = await runTxn(clientId, { success: [{ get: { key: from } }, { get: { key: to } }] }, n);
        if (!read) continue;
        const [f, t] = read.results as { value: string; revision: number }[];
        const amount = 1 + ((clientId * 7 + n) % 5);
        await runTxn(
          clientId,
          {
            compare: [
              { key: from, target: 'revision', op: '==', value: f!.revision },
              { key: to, target: 'revision', op: '==', value: t!.revision },
            ],
            success: [{ put: { key: from, value: String(Number(f!.value) - amount) } }, { put: { key: to, value: String(Number(t!.value) + amount) } }],
            failure: [{ get: { key: from } }],
          },
          n + 1_000_000,
        );
      }
    };

    // Lock holders: each acquisition with a fresh lease; inside, a transaction fenced by the token.
    interface Holding {
      readonly token: number;
      /** The clock when the lock call returned, and when the holder first sent its release. */
      readonly acquired: number;
      releaseSent: number;
      readonly acquiredAtMs: number;
      /** The lease rule: the holder may rely on the lock until its grant's send time + TTL - the drift allowance. */
      readonly validUntilMs: number;
    }
    const holdings: Holding[] = [];
    const fenced = { succeeded: 0, lostWhileValid: 0, lostAfter: 0 };
    const locker = async (clientId: number): Promise<void> => {
      for (let turn = 0; turn < LOCK_TURNS && !stop; turn++) {
        const sentAt = Date.now();
        const lease = await paxos.leaseGrant(S, LEASE_TTL_MS).catch(() => null);
        if (!lease) continue;
        try {
          const got = await paxos.lock(S, 'mutex', { lease: lease.id, waitMs: 2000 });
          const holding: Holding = { token: got.revision, acquired: ++clock, releaseSent: Number.POSITIVE_INFINITY, acquiredAtMs: Date.now(), validUntilMs: sentAt + LEASE_TTL_MS - DRIFT_ALLOWANCE_MS };
          holdings.push(holding);
          const res = await paxos
            .txn(S, { compare: [{ key: got.key, target: 'create_revision', op: '==', value: got.revision }], success: [{ put: { key: 'fenced/last', value: `${clientId}:${got.revision}` } }] })
            .catch(() => null);
          if (res?.succeeded) fenced.succeeded += 1;
          else if (res) fenced[Date.now() < holding.validUntilMs ? 'lostWhileValid' : 'lostAfter'] += 1;
          holding.releaseSent = ++clock;
          await paxos.unlock(S, 'mutex', got.key, { revision: got.revision }).catch(() => null);
        } catch (e) {
          if (!isEdgePaxosError(e)) throw e;
        }
        // Leave no key behind (a failed lock or unlock call may have left one in the queue).
        await paxos.leaseRevoke(S, lease.id).catch(() => null);
      }
    };

    const chaos = async (): Promise<{ crashes: number; partitions: number }> => {
      const done = { crashes: 0, partitions: 0 };
      const ids = streamConfig(S).replicas.map((r) => r.id);
      for (let round = 0; round < 4; round++) {
        await sleep(300);
        const leader = await stableLeader(S);
        if (round % 2 === 0) {
          await crash(S, leader);
          done.crashes += 1;
        } else {
          await api('POST', `/v1/streams/${S}/chaos`, { action: 'partition', groups: [[leader], ids.filter((id) => id !== leader)] }, admin);
          done.partitions += 1;
          await sleep(400);
          await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);
        }
      }
      return done;
    };

    const started = Date.now();
    const phase = (what: string): void => console.log(`coordination chaos: ${what} after ${Date.now() - started} ms`);
    const clients = Promise.all([bank(1), bank(2), bank(3), locker(4), locker(5), locker(6)]);
    const faults = await chaos();
    faultsOver = true;
    phase('faults done');
    // The clients finish their rounds with the cluster healed (a bound, not a timing assertion: a stuck client fails the test).
    const finished = await Promise.race([clients.then(() => true), sleep(20_000).then(() => false)]);
    stop = true;
    await clients;
    phase('clients done');
    expect(finished, 'the clients finished their rounds once the faults were over').toBe(true);
    await api('POST', `/v1/streams/${S}/chaos`, { action: 'heal' }, admin);

    // The run exercised what it claims to.
    expect(faults).toEqual({ crashes: 2, partitions: 2 });
    expect(history.length).toBeGreaterThan(30);
    expect(answeredDuringFaults, 'transactions answered while leaders crashed and partitions stood').toBeGreaterThan(10);
    expect(holdings.length).toBeGreaterThan(2);

    // Transactions: linearizable.
    const verdict = checkLinearizability(coordinationModel, history);
    phase(`${history.length} operations checked`);
    expect(verdict.ok, verdict.ok ? '' : verdict.explanation).toBe(true);

    // Locks: tokens increase with the order of acquisition, and a holder's section ends (it sends its release)
    // before the next holder's begins, unless its lease could already have ended by the rule.
    const byAcquisition = [...holdings].sort((a, b) => a.acquired - b.acquired);
    for (let i = 1; i < byAcquisition.length; i++) {
      const [prev, cur] = [byAcquisition[i - 1]!, byAcquisition[i]!];
      expect(cur.token, 'fencing tokens increase').toBeGreaterThan(prev.token);
      const released = prev.releaseSent < cur.acquired;
      expect(released || cur.acquiredAtMs >= prev.validUntilMs, `holders with tokens ${prev.token} and ${cur.token} overlap`).toBe(true);
    }
    expect(fenced.lostWhileValid, 'no holder lost the lock while its lease lived').toBe(0);
    expect(fenced.succeeded).toBeGreaterThan(0);

    // The watch: caught up with the last acknowledged change, then every acknowledged change once, in order.
    const last = Math.max(...writes.flatMap((w) => (w.revision !== undefined ? [w.revision] : [])));
    await eventually('the watch is current through the last acknowledged change', async () => coveredThrough >= last, 15_000);
    stopWatch.abort();
    await watcher;
    const watch = checkWatchAgainstWrites({ filter: { prefix: 'bank/' }, from: seed.revision, events: watched }, writes);
    expect(watch.ok, watch.ok ? '' : watch.message).toBe(true);
    expect(watch.ok && watch.delivered).toBeGreaterThan(10);
  });
});
