/**
 * The keyspace simulator: cross-shard transactions under coordinator
 * (Worker) crashes and leader crashes, in random campaigns, with every
 * client history checked as one object by the linearizability checker
 * (checker/keyspace-model.ts).
 *
 * What is real and what is modelled: each shard is the real KvStateMachine
 * (ownership, intents, votes, the first decided outcome, resolves) fed a
 * decided log; the Paxos group under it is abstracted to that log, since the
 * Paxos simulator (simulation.ts) checks that a stream's log is one log under
 * every fault. A leader crash shows here as the proposer learns it does: an
 * outcome-unknown answer to a proposal that may or may not have been decided,
 * retried with the same idempotency key; or a shard that answers nothing for
 * a while. The Workers run the router's protocol (keyspace-service.ts, step
 * for step: routing, wrong_shard and locked handling, two-phase commit with
 * the shared `outcomeOf` rule, settling intents) in simulated time, and one
 * may crash between any two of its steps, leaving intents behind for the
 * others to settle. After the clients stop, a janitor settles every intent
 * left (liveness) and reads every key back into the history.
 *
 * A keyspace watch runs beside the clients: one watcher per shard on that
 * shard's real WatchHub (fed at apply time, as a replica's), its events
 * travelling one by one with their own delays and merged by the Worker's
 * real WatchMerge; the connection drops at random moments (events in flight
 * are lost, a revision cut in half included) and the client reconnects from
 * the last cursor it received. Each shard's share of what the client got is
 * then checked against every change that shard applied (checker/
 * watch-checker.ts `checkWatch`: once each, in revision order, none missing
 * up to a progress event). The watch draws from its own random stream, so
 * it does not change the schedule a seed gives the clients.
 *
 * Every failure prints one line that reproduces it.
 */
import { SeededRng } from '../src/core/rng.ts';
import type { Command, TxnCompare, TxnOp, TxnOutcome } from '../src/core/index.ts';
import { type IntentView, type KvResult, KvStateMachine, type ShardRead, evenMap, outcomeOf, rangesOf, shardOfKey } from '../src/kv/index.ts';
import { WatchMerge, parseWatchCursor } from '../src/client/keyspace-watch.ts';
import { type KvChange } from '../src/kv/index.ts';
import { WatchHub, type WatchEvent, type Watcher } from '../src/host/watch-hub.ts';
import { type KeyspaceInput, type KeyspaceOutput, keyspaceModel } from './checker/keyspace-model.ts';
import { type WatchedEvent, checkWatch } from './checker/watch-checker.ts';
import { type Operation, checkLinearizability } from './checker/linearizability.ts';

export interface KeyspaceSimOptions {
  readonly seed: number;
  readonly shards: number;
  readonly clients: number;
  readonly opsPerClient: number;
  /** Chance that a Worker dies before any one of its steps. */
  readonly workerCrashRate: number;
  /** Chance that a proposal meets a leader crash (its outcome unknown to the proposer, decided or not). */
  readonly leaderCrashRate: number;
  /** Chance that a shard is unreachable for a while when a request arrives. */
  readonly outageRate: number;
  readonly keys: number;
  /** The checker's search budget (default CHECK_STEPS). */
  readonly checkSteps?: number;
}

/** Search steps of the linearizability check of one run. */
export const CHECK_STEPS = 10_000_000;

export interface KeyspaceSimResult {
  readonly ok: boolean;
  /** The check ran out of search budget (proved nothing); `ok` is true only in the sense that nothing failed. */
  readonly inconclusive?: boolean;
  readonly check: 'linearizability' | 'liveness' | 'watch' | 'exception' | null;
  readonly message: string | null;
  readonly options: KeyspaceSimOptions;
  readonly ops: number;
  readonly crossShardTxns: number;
  readonly workerCrashes: number;
  readonly settled: number;
  /** Put and delete events the keyspace watch delivered, over how many connections. */
  readonly watchEvents: number;
  readonly watchConnections: number;
  readonly reproduce: string;
}

/** The options a seed draws (every knob from the seed, logged in the reproduce line). */
export function keyspaceOptions(seed: number, overrides: Partial<KeyspaceSimOptions> = {}): KeyspaceSimOptions {
  const rng = new SeededRng(seed ^ 0x5eed);
  const pick = (n: number): number => rng.nextU32() % n;
  return {
    seed,
    shards: 2 + pick(3),
    clients: 3 + pick(2),
    opsPerClient: 8 + pick(6),
    workerCrashRate: [0, 0.01, 0.03][pick(3)]!,
    leaderCrashRate: [0, 0.05, 0.1][pick(3)]!,
    outageRate: [0, 0.03][pick(2)]!,
    keys: 4 + pick(4),
    ...overrides,
  };
}

class Crash extends Error {}

const INTENT_TIMEOUT_MS = 60;
const ATTEMPTS = 6;
/** How long a Worker keeps retrying one proposal (StreamClient's request deadline, in simulated ms). */
const WRITE_PATIENCE_MS = 150;

/** One run of the keyspace simulation. */
export async function runKeyspaceSim(options: KeyspaceSimOptions): Promise<KeyspaceSimResult> {
  const rng = new SeededRng(options.seed);
  const random = (): number => rng.nextU32() / 0x1_0000_0000;
  const map = evenMap(options.shards);
  const shards = Array.from({ length: options.shards }, (_, i) => {
    const sm = new KvStateMachine();
    sm.apply(1, { kind: 'shard-assign', id: `assign-${i}`, keyspace: 'ks', shard: i, version: 1, ranges: rangesOf(map, i).map((r) => ({ from: r.from, to: r.to })) });
    // The replica's watch history, filled at apply time; `changes` is the truth the watch is checked against.
    const hub = new WatchHub(sm.appliedThrough);
    const changes = new Map<number, readonly KvChange[]>();
    sm.listen({
      changed: (revision, cs) => {
        changes.set(revision, cs);
        hub.changed(revision, cs);
      },
      restored: (appliedThrough) => hub.restored(appliedThrough),
    });
    return { sm, downUntil: 0, hub, changes };
  });
  /** Apply `command` at shard `s`'s next slot (its watch history hears of it). */
  const applyNext = (s: number, command: Command): KvResult => {
    const shard = shards[s]!;
    const r = shard.sm.apply(shard.sm.appliedThrough + 1, command);
    shard.hub.advance(shard.sm.appliedThrough);
    return r;
  };
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);

  // ---------------------------------------------------------------- simulated time
  let now = 0;
  let seq = 0;
  const queue: { at: number; n: number; run: () => void }[] = [];
  const at = (delayMs: number, run: () => void): void => {
    queue.push({ at: now + delayMs, n: seq++, run });
    queue.sort((a, b) => a.at - b.at || a.n - b.n);
  };
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => at(ms, resolve));
  const latency = (): number => 1 + Math.floor(random() * 8);
  let ids = 0;
  let workerCrashes = 0;
  let crossShardTxns = 0;
  let settled = 0;
  /** Off for the janitor: the liveness phase heals every fault. */
  let faults = true;

  /** Decide `command` at shard `s`: its result, or 'unknown' (a leader crash: decided or not), or 'unavailable'. */
  const propose = (s: number, command: Command): Promise<KvResult | 'unknown' | 'unavailable'> =>
    new Promise((resolve) => {
      const shard = shards[s]!;
      const l = latency();
      if (faults && (shard.downUntil > now || random() < options.outageRate)) {
        if (shard.downUntil <= now) shard.downUntil = now + 20 + Math.floor(random() * 40);
        at(l, () => resolve('unavailable'));
        return;
      }
      if (faults && random() < options.leaderCrashRate) {
        const decided = random() < 0.5;
        at(l, () => {
          if (decided) applyNext(s, command);
          resolve('unknown');
        });
        return;
      }
      at(l, () => resolve(applyNext(s, command)));
    });

  const read = <T>(s: number, query: (sm: KvStateMachine) => ShardRead<T>): Promise<ShardRead<T> | 'unavailable'> =>
    new Promise((resolve) => {
      const shard = shards[s]!;
      at(latency(), () => resolve(shard.downUntil > now ? 'unavailable' : query(shard.sm)));
    });

  /** A Worker: the router's steps, any of which may be its last. */
  class Worker {
    private readonly crashRate: number;

    constructor(crashRate: number) {
      this.crashRate = crashRate;
    }

    /** A crashed Worker sends nothing more (what it sent before may still land). */
    private dead = false;

    private step(): void {
      if (this.dead) throw new Crash();
      if (random() < this.crashRate) {
        this.dead = true;
        workerCrashes += 1;
        throw new Crash();
      }
    }

    /** StreamClient.write: retried with one idempotency key across unknown outcomes and outages, until it gives up (null). */
    async write(s: number, build: () => Command): Promise<KvResult | null> {
      const deadline = now + WRITE_PATIENCE_MS;
      while (now < deadline) {
        this.step();
        const r = await propose(s, build());
        if (r !== 'unknown' && r !== 'unavailable') return r;
        await sleep(5);
      }
      return null;
    }

    async settle(participant: number, intent: IntentView): Promise<void> {
      const coordinator = Number(intent.coordinator.slice(-4));
      const asked = await this.write(coordinator, () => ({ kind: 'txn-decide', id: `d${ids++}`, txid: intent.txid, outcome: null }));
      if (asked === null || asked.kind !== 'txn-outcome') return;
      let outcome = asked.outcome;
      if (outcome === null) {
        if (now < intent.deadlineMs) {
          await sleep(5 + Math.floor(random() * 10));
          return;
        }
        const aborted = await this.write(coordinator, () => ({ kind: 'txn-decide', id: `d${ids++}`, txid: intent.txid, outcome: 'abort' }));
        if (aborted === null || aborted.kind !== 'txn-outcome') return;
        outcome = aborted.outcome!;
      }
      const r = await this.write(participant, () => ({ kind: 'txn-resolve', id: `r${ids++}`, txid: intent.txid, outcome: outcome! }));
      if (r?.kind === 'txn-resolved' && r.applied) settled += 1;
    }

    /** A routed write (put, delete, single-shard txn); null when its outcome is unknown. */
    async routed(s: number, build: () => Command): Promise<KvResult | null> {
      for (let attempt = 0; attempt < 40; attempt++) {
        const r = await this.write(s, build);
        if (r === null) return null;
        if (r.kind === 'rejected' && r.code === 'locked') {
          await this.settle(s, r.intent);
          continue;
        }
        return r;
      }
      return null;
    }

    async get(key: string): Promise<string | null | undefined> {
      const s = shardOfKey(map, key);
      for (let attempt = 0; attempt < 40; attempt++) {
        this.step();
        const r = await read(s, (sm) => sm.shardGet(key, 1));
        if (r === 'unavailable') {
          await sleep(5);
          continue;
        }
        if (r.kind === 'intent') {
          await this.settle(s, r.intent);
          continue;
        }
        if (r.kind === 'wrong_shard') throw new Error(`sim: shard ${s} refused its own key ${key}`);
        return r.value?.value ?? null;
      }
      return undefined;
    }

    async txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[]): Promise<KeyspaceOutput | null | 'conflict'> {
      const split = new Map<number, { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] }>();
      const part = (key: string) => {
        const s = shardOfKey(map, key);
        if (!split.has(s)) split.set(s, { compare: [], success: [], failure: [] });
        return split.get(s)!;
      };
      const keyOf = (op: TxnOp): string => ('put' in op ? op.put.key : 'delete' in op ? op.delete.key : 'get' in op ? op.get.key : '');
      for (const c of compare) part(c.key).compare.push(c);
      for (const op of success) part(keyOf(op)).success.push(op);
      for (const op of failure) part(keyOf(op)).failure.push(op);
      const participants = [...split.keys()].sort((a, b) => a - b);
      const gets = (results: readonly { kind: string; item?: { value: string } | null }[]) => results.filter((r) => r.kind === 'get').map((r) => r.item?.value ?? null);
      if (participants.length === 1) {
        const idem = `t${ids++}`;
        const r = await this.routed(participants[0]!, () => ({ kind: 'txn', id: `c${ids++}`, compare, success, failure, idempotencyKey: idem, mapVersion: 1 }));
        if (r === null) return null;
        if (r.kind !== 'txn') throw new Error(`sim: a single-shard txn answered ${JSON.stringify(r)}`);
        return { kind: 'txn', succeeded: r.succeeded, gets: gets(r.results) };
      }
      crossShardTxns += 1;
      const txid = `x${ids++}`;
      // The router picks the shard led nearest the caller, a participant or not: here, at random.
      const coordinator = random() < 0.5 ? participants[0]! : Math.floor(random() * options.shards);
      const deadlineMs = now + INTENT_TIMEOUT_MS;
      const votes = await Promise.all(
        participants.map((s) =>
          this.write(s, () => ({ kind: 'txn-prepare', id: `p${ids++}`, txid, coordinator: `ks_s${String(coordinator).padStart(4, '0')}`, deadlineMs, mapVersion: 1, ...split.get(s)!, idempotencyKey: `${txid}:${s}` })),
        ),
      );
      const proposal: TxnOutcome = outcomeOf(votes);
      const decided = await this.write(coordinator, () => ({ kind: 'txn-decide', id: `d${ids++}`, txid, outcome: proposal }));
      if (decided === null || decided.kind !== 'txn-outcome') return proposal === 'abort' ? 'conflict' : null;
      const outcome = decided.outcome!;
      // The answer does not wait for the resolves (as the router's waitUntil): they run on as their own task.
      void this.finish(participants, coordinator, txid, outcome).catch((e: unknown) => {
        if (!(e instanceof Crash)) throw e;
      });
      if (outcome === 'abort') return 'conflict';
      const succeeded = outcome === 'commit-success';
      const branch = succeeded ? success : failure;
      const seen = new Map<number, number>();
      const values: (string | null)[] = [];
      for (const op of branch) {
        const s = shardOfKey(map, keyOf(op));
        const n = seen.get(s) ?? 0;
        seen.set(s, n + 1);
        const vote = votes[participants.indexOf(s)]!;
        if (vote.kind !== 'txn-vote' || vote.vote !== 'yes') continue; // (only a broken commit rule gets here)
        const r = (succeeded ? vote.success : vote.failure)[n]!;
        if (r.kind === 'get') values.push(r.item?.value ?? null);
      }
      return { kind: 'txn', succeeded, gets: values };
    }

    private async finish(participants: readonly number[], coordinator: number, txid: string, outcome: TxnOutcome): Promise<void> {
      // Work left to waitUntil starts when the runtime gets to it: a while after the answer, at times.
      await sleep(Math.floor(random() * 12));
      const resolved = await Promise.all(participants.map((s) => this.write(s, () => ({ kind: 'txn-resolve', id: `r${ids++}`, txid, outcome }))));
      // Forgotten only once every participant resolved (as the router: a resolve that failed throws there): an intent left behind needs the outcome.
      if (resolved.every((r) => r?.kind === 'txn-resolved')) await this.write(coordinator, () => ({ kind: 'txn-forget', id: `f${ids++}`, txid }));
    }
  }

  // ---------------------------------------------------------------- clients
  const history: Operation<KeyspaceInput, KeyspaceOutput>[] = [];
  const stamp = (): number => now + seq++ * 1e-6;
  const record = async (clientId: number, input: KeyspaceInput, run: () => Promise<KeyspaceOutput | null | undefined>): Promise<Operation<KeyspaceInput, KeyspaceOutput> | null> => {
    const call = stamp();
    let output: KeyspaceOutput | null | undefined;
    try {
      output = await run();
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
      output = undefined;
    }
    if (output === undefined || output === null) {
      // A read that got no answer constrains nothing: left out. A write may or may not have taken effect.
      if (keyspaceModel.readOnly!(input, undefined)) return null;
      const op = { clientId, input, call, return: Infinity, output: undefined };
      history.push(op);
      return op;
    }
    const op = { clientId, input, call, return: stamp(), output };
    history.push(op);
    return op;
  };

  const client = async (clientId: number): Promise<void> => {
    for (let n = 0; n < options.opsPerClient; n++) {
      const w = new Worker(options.workerCrashRate);
      const key = keys[Math.floor(random() * keys.length)]!;
      const other = keys[Math.floor(random() * keys.length)]!;
      const value = `c${clientId}.${n}`;
      const roll = random();
      if (roll < 0.25) {
        const idem = `i${ids++}`;
        await record(clientId, { kind: 'put', key, value }, async () => {
          const r = await w.routed(shardOfKey(map, key), () => ({ kind: 'put', id: `c${ids++}`, key, value, idempotencyKey: idem, mapVersion: 1 }));
          return r === null ? null : { kind: 'put' };
        });
      } else if (roll < 0.5) {
        await record(clientId, { kind: 'get', key }, async () => {
          const v = await w.get(key);
          return v === undefined ? null : { kind: 'get', value: v };
        });
      } else if (roll < 0.58) {
        const idem = `i${ids++}`;
        await record(clientId, { kind: 'delete', key }, async () => {
          const r = await w.routed(shardOfKey(map, key), () => ({ kind: 'delete', id: `c${ids++}`, key, idempotencyKey: idem, mapVersion: 1 }));
          return r === null ? null : r.kind === 'delete' ? { kind: 'delete', deleted: r.deleted } : null;
        });
      } else {
        // A transaction over two keys (often on two shards): move a value, or read both (read-only, serializable through 2PC).
        const third = keys[Math.floor(random() * keys.length)]!;
        const readOnly = random() < 0.3;
        const compare: TxnCompare[] = readOnly ? [] : [{ key, target: 'revision', op: random() < 0.5 ? '==' : '!=', value: 0 }];
        const success: TxnOp[] = readOnly ? [{ get: { key } }, { get: { key: other } }] : key === other ? [{ put: { key, value } }] : [{ put: { key: other, value } }, { get: { key } }];
        const failure: TxnOp[] = readOnly || third === key || third === other ? [] : [{ put: { key: third, value } }];
        for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
          let conflict = false;
          const recorded = await record(clientId, { kind: 'txn', compare, success, failure }, async () => {
            const r = await w.txn(compare, success, failure);
            if (r === 'conflict') {
              conflict = true;
              return null;
            }
            return r;
          });
          if (!conflict) break;
          // An aborted attempt applied nothing: drop it from the history (recorded as unknown, the checker would accept it anyway).
          if (recorded) history.splice(history.indexOf(recorded), 1);
          await sleep(Math.floor(random() * 12));
        }
      }
    }
  };

  // ---------------------------------------------------------------- a keyspace watch (every key), across dropped connections
  const watchRng = new SeededRng(options.seed ^ 0x3a7c);
  const watchRandom = (): number => watchRng.nextU32() / 0x1_0000_0000;
  /** What the client received, per shard, across connections (progress included), in order. */
  const watched: WatchedEvent[][] = shards.map(() => []);
  let cursor: string | undefined;
  let connection = 0;
  let watching = true;
  let watchFailure: string | null = null;
  const open = new Map<number, Watcher>();
  const connect = (): void => {
    if (!watching) return;
    const id = ++connection;
    const from = parseWatchCursor(cursor ?? '')!;
    const merge = new WatchMerge(from);
    // Each shard's events reach the Worker one by one, in order, each after its own delay.
    const channelAt = shards.map(() => now);
    for (const [s, shard] of shards.entries()) {
      const sink = {
        send: (events: readonly WatchEvent[], complete: number | null): void => {
          events.forEach((e, i) => {
            channelAt[s] = Math.max(channelAt[s]!, now + 1 + Math.floor(watchRandom() * 6));
            at(channelAt[s]! - now, () => {
              if (id !== connection) return; // the connection dropped: in flight, lost
              const out = merge.take(s, e, i === events.length - 1 ? complete : null);
              if (!out) return;
              for (const x of out.events) {
                const { shard: at, ...event } = x;
                watched[at]!.push(event as WatchedEvent);
              }
              if (out.cursor !== null) cursor = out.cursor;
              if (out.end) watchFailure ??= `shard ${s} answered compacted (first revision ${(e as { first_revision?: number }).first_revision}) to a watch from ${String(from.get(s))}`;
            });
          });
        },
        close: (): void => undefined,
      };
      const opened = shard.hub.open({ prefix: '' }, from.get(s), sink, shard.sm.appliedThrough);
      if (opened.kind === 'compacted') watchFailure ??= `shard ${s} refused a watch from ${String(from.get(s))}: compacted (first revision ${opened.firstRevision})`;
      else open.set(s, opened.watcher);
    }
    // The connection drops after a while (a replica ends its watch, the client's network fails): every shard's watch ends.
    at(10 + Math.floor(watchRandom() * 80), () => {
      if (id !== connection) return;
      connection += 1;
      for (const [s, w] of open) shards[s]!.hub.close(w, false);
      open.clear();
      at(1 + Math.floor(watchRandom() * 10), connect);
    });
  };
  const progressTick = (): void => {
    if (!watching) return;
    for (const shard of shards) shard.hub.progress();
    at(15, progressTick);
  };
  connect();
  at(15, progressTick);
  // Now and then a one-shard transaction writes two keys of one shard: a revision of several events, which a
  // dropped connection can cut in half (the clients' workload writes one key per shard and command).
  const pairs = keys.flatMap((a, i) => keys.slice(i + 1).filter((b) => shardOfKey(map, a) === shardOfKey(map, b)).map((b) => [a, b] as const));
  let pairWrites = 0;
  const pairWrite = (): void => {
    if (!watching || done || pairs.length === 0) return;
    const [a, b] = pairs[Math.floor(watchRandom() * pairs.length)]!;
    const value = `pair${pairWrites++}`;
    const success: TxnOp[] = [{ put: { key: a, value } }, { put: { key: b, value } }];
    const call = stamp();
    const r = applyNext(shardOfKey(map, a), { kind: 'txn', id: `pw${ids++}`, compare: [], success, failure: [], idempotencyKey: `pw${ids++}`, mapVersion: 1 });
    // Refused (an intent holds a key): nothing applied, nothing to record.
    if (r.kind === 'txn') history.push({ clientId: -2, input: { kind: 'txn', compare: [], success, failure: [] }, call, return: stamp(), output: { kind: 'txn', succeeded: true, gets: [] } });
    at(20 + Math.floor(watchRandom() * 40), pairWrite);
  };
  at(20 + Math.floor(watchRandom() * 40), pairWrite);

  const running = Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  let done = false;
  const stop = (): void => {
    done = true;
  };
  running.then(stop, stop);
  const drain = async (until: () => boolean, limit: number): Promise<void> => {
    for (let n = 0; n < limit && !until(); n++) {
      await new Promise((r) => setImmediate(r));
      const next = queue.shift();
      if (!next) {
        await new Promise((r) => setImmediate(r));
        if (queue.length === 0) break;
        continue;
      }
      now = Math.max(now, next.at);
      next.run();
    }
  };
  await drain(() => done, 2_000_000);
  await running;

  // ---------------------------------------------------------------- liveness: a janitor settles every intent left, then reads every key
  const janitor = new Worker(0);
  faults = false;
  for (const shard of shards) shard.downUntil = 0;
  now += INTENT_TIMEOUT_MS + 1; // every deadline has passed
  let janitorDone = false;
  const sweep = (async () => {
    // Proposals a crashed Worker sent may still land: sweep until none is left in flight and no intent remains.
    for (let round = 0; round < 10; round++) {
      for (let s = 0; s < shards.length; s++) {
        for (const txid of shards[s]!.sm.preparedIds()) {
          const intent = shards[s]!.sm.intentOf(txid);
          if (intent) await janitor.settle(s, intent); // (an earlier settle may have resolved it meanwhile)
        }
      }
      await sleep(WRITE_PATIENCE_MS);
      now += INTENT_TIMEOUT_MS + 1;
      if (shards.every((sh) => sh.sm.preparedIds().length === 0)) break;
    }
    for (const key of keys) await record(-1, { kind: 'get', key }, async () => ({ kind: 'get', value: (await janitor.get(key)) ?? null }));
  })();
  const finished = (): void => {
    janitorDone = true;
  };
  sweep.then(finished, finished);
  await drain(() => janitorDone, 1_000_000);
  await sweep;
  // The watch's last word: a progress event on every shard (delivered unless the connection drops first), then it stops.
  for (const shard of shards) shard.hub.progress();
  await drain(() => false, 100);
  watching = false;
  connection += 1;
  const watchEvents = watched.reduce((n, w) => n + w.filter((e) => e.type !== 'progress').length, 0);
  const left = shards.flatMap((s, i) => s.sm.preparedIds().map((t) => `${t}@${i}`));
  const base = { options, ops: history.length, crossShardTxns, workerCrashes, settled, watchEvents, watchConnections: connection, reproduce: `npm run sim:keyspace -- --seed ${options.seed}` };
  if (left.length > 0) return { ...base, ok: false, check: 'liveness', message: `intents left after the janitor settled every one: ${left.join(', ')}` };
  if (watchFailure !== null) return { ...base, ok: false, check: 'watch', message: watchFailure };
  for (const [s, shard] of shards.entries()) {
    const applied = shard.sm.appliedThrough;
    const v = checkWatch({ filter: { prefix: '' }, from: undefined, events: watched[s]! }, (r) => (r <= applied ? (shard.changes.get(r) ?? []) : undefined));
    if (!v.ok) return { ...base, ok: false, check: 'watch', message: `keyspace watch, shard ${s}: ${v.message}` };
  }
  const verdict = checkLinearizability(keyspaceModel, history, { maxSteps: options.checkSteps ?? CHECK_STEPS });
  // A search that ran out of budget proved nothing either way: reported as inconclusive, never as a pass or a failure.
  if (!verdict.ok && verdict.reason === 'budget-exhausted') return { ...base, ok: true, inconclusive: true, check: null, message: verdict.explanation };
  if (!verdict.ok) return { ...base, ok: false, check: 'linearizability', message: verdict.explanation };
  return { ...base, ok: true, check: null, message: null };
}

