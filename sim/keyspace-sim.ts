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
 * Every failure prints one line that reproduces it.
 */
import { SeededRng } from '../src/core/rng.ts';
import type { Command, TxnCompare, TxnOp, TxnOutcome } from '../src/core/index.ts';
import { type IntentView, type KvResult, KvStateMachine, type RangeMove, type ShardMap, type ShardRead, evenMap, grownMap, outcomeOf, rangesOf, shardOfKey } from '../src/kv/index.ts';
import { type KeyspaceInput, type KeyspaceOutput, keyspaceModel } from './checker/keyspace-model.ts';
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
  /** Shards to grow to during the run (0: no grow); more than `shards`. */
  readonly growTo: number;
  /** When the grow starts (simulated ms). */
  readonly growAtMs: number;
  /** Chance that a Worker driving the grow dies before any one of its steps. */
  readonly growCrashRate: number;
  /** The checker's search budget (default CHECK_STEPS). */
  readonly checkSteps?: number;
}

/** Search steps of the linearizability check of one run. */
export const CHECK_STEPS = 10_000_000;

export interface KeyspaceSimResult {
  readonly ok: boolean;
  /** The check ran out of search budget (proved nothing); `ok` is true only in the sense that nothing failed. */
  readonly inconclusive?: boolean;
  readonly check: 'linearizability' | 'liveness' | 'exception' | null;
  readonly message: string | null;
  readonly options: KeyspaceSimOptions;
  readonly ops: number;
  readonly crossShardTxns: number;
  readonly workerCrashes: number;
  readonly settled: number;
  /** Grow drivers that died mid-grow (the grow was resumed by the next call). */
  readonly growCrashes: number;
  /** Keys installed at new shards by grows. */
  readonly movedKeys: number;
  /** Hand-offs a source refused because a transaction's intent held a moving key (settled, then assigned again). */
  readonly handoffsRefused: number;
  readonly reproduce: string;
}

/** The options a seed draws (every knob from the seed, logged in the reproduce line). */
export function keyspaceOptions(seed: number, overrides: Partial<KeyspaceSimOptions> = {}): KeyspaceSimOptions {
  const rng = new SeededRng(seed ^ 0x5eed);
  const pick = (n: number): number => rng.nextU32() % n;
  const shards = 2 + pick(3);
  return {
    seed,
    shards,
    clients: 3 + pick(2),
    opsPerClient: 8 + pick(6),
    workerCrashRate: [0, 0.01, 0.03][pick(3)]!,
    leaderCrashRate: [0, 0.05, 0.1][pick(3)]!,
    outageRate: [0, 0.03][pick(2)]!,
    keys: 4 + pick(4),
    // Two runs in three grow the keyspace while it serves, by 1 to `shards` new shards.
    growTo: pick(3) < 2 ? shards + 1 + pick(shards) : 0,
    growAtMs: pick(150),
    growCrashRate: [0.05, 0.15][pick(2)]!,
    ...overrides,
  };
}

class Crash extends Error {}

function keyOfOp(op: TxnOp): string {
  return 'put' in op ? op.put.key : 'delete' in op ? op.delete.key : 'get' in op ? op.get.key : '';
}

const INTENT_TIMEOUT_MS = 60;
const ATTEMPTS = 6;
/** How long a Worker keeps retrying one proposal (StreamClient's request deadline, in simulated ms). */
const WRITE_PATIENCE_MS = 150;

/** A Worker's cached view of the keyspace's catalog entry: the map it routes by and the unfinished grow's moving ranges. */
interface View {
  map: ShardMap;
  moving: readonly RangeMove[];
}

/** The catalog entry of the simulated keyspace (the catalog stream is one linearizable register here). */
interface CatalogEntry {
  readonly revision: number;
  readonly map: ShardMap;
  readonly shards: number;
  readonly grow: { readonly moves: readonly (RangeMove & { readonly done: boolean })[] } | null;
}

/** One run of the keyspace simulation. */
export async function runKeyspaceSim(options: KeyspaceSimOptions): Promise<KeyspaceSimResult> {
  const rng = new SeededRng(options.seed);
  const random = (): number => rng.nextU32() / 0x1_0000_0000;
  const initial = evenMap(options.shards);
  const shards: { sm: KvStateMachine; downUntil: number }[] = [];
  /** Shard `s`'s replicas: a new shard's wake at its first request, empty and unassigned. */
  const shardAt = (s: number) => {
    while (shards.length <= s) shards.push({ sm: new KvStateMachine(), downUntil: 0 });
    return shards[s]!;
  };
  for (let i = 0; i < options.shards; i++) shardAt(i).sm.apply(1, { kind: 'shard-assign', id: `assign-${i}`, keyspace: 'ks', shard: i, version: 1, ranges: rangesOf(initial, i).map((r) => ({ from: r.from, to: r.to })) });
  let catalog: CatalogEntry = { revision: 1, map: initial, shards: options.shards, grow: null };
  const viewOf = (e: CatalogEntry): View => ({ map: e.map, moving: e.grow ? e.grow.moves.filter((m) => !m.done) : [] });
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
  let growCrashes = 0;
  let movedKeys = 0;
  let handoffsRefused = 0;
  /** Off for the janitor: the liveness phase heals every fault. */
  let faults = true;

  /** Decide `command` at shard `s`: its result, or 'unknown' (a leader crash: decided or not), or 'unavailable'. */
  const propose = (s: number, command: Command): Promise<KvResult | 'unknown' | 'unavailable'> =>
    new Promise((resolve) => {
      const shard = shardAt(s);
      const l = latency();
      if (faults && (shard.downUntil > now || random() < options.outageRate)) {
        if (shard.downUntil <= now) shard.downUntil = now + 20 + Math.floor(random() * 40);
        at(l, () => resolve('unavailable'));
        return;
      }
      if (faults && random() < options.leaderCrashRate) {
        const decided = random() < 0.5;
        at(l, () => {
          if (decided) shard.sm.apply(shard.sm.appliedThrough + 1, command);
          resolve('unknown');
        });
        return;
      }
      at(l, () => resolve(shard.sm.apply(shard.sm.appliedThrough + 1, command)));
    });

  const read = <T>(s: number, query: (sm: KvStateMachine) => ShardRead<T>): Promise<ShardRead<T> | 'unavailable'> =>
    new Promise((resolve) => {
      const shard = shardAt(s);
      at(latency(), () => resolve(shard.downUntil > now ? 'unavailable' : query(shard.sm)));
    });

  /** A linearizable read of the catalog entry (a copy, as it was when the read arrived). */
  const readCatalog = (): Promise<CatalogEntry> => new Promise((resolve) => at(latency(), () => resolve(catalog)));
  /** Compare-and-set of the catalog entry: true when it was still at `revision` when the write arrived. */
  const casCatalog = (revision: number, next: Omit<CatalogEntry, 'revision'>): Promise<boolean> =>
    new Promise((resolve) =>
      at(latency(), () => {
        if (catalog.revision !== revision) return resolve(false);
        catalog = { ...next, revision: revision + 1 };
        resolve(true);
      }),
    );

  /** A Worker: the router's steps, any of which may be its last. */
  class Worker {
    private readonly crashRate: number;
    /** The catalog view it routes by (its isolate's cache; a fresh Worker may start with an old one). */
    view: View;

    constructor(crashRate: number, view: View) {
      this.crashRate = crashRate;
      this.view = view;
    }

    /** A crashed Worker sends nothing more (what it sent before may still land). */
    private dead = false;

    step(): void {
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

    /** keyspace-service.ts assignment(): the shard's ranges under this Worker's map, an unfinished grow's ranges into it incoming. */
    assignment(s: number): Command {
      const incoming = this.view.moving.filter((m) => m.target === s).map((m) => ({ from: m.from, to: m.to }));
      return { kind: 'shard-assign', id: `a${ids++}`, keyspace: 'ks', shard: s, version: this.view.map.version, ranges: rangesOf(this.view.map, s).map((r) => ({ from: r.from, to: r.to })), ...(incoming.length > 0 ? { incoming } : {}) };
    }

    /** keyspace-service.ts correct(): assign a shard that is behind (settling an intent that holds its hand-off back), or read the catalog again. */
    async correct(s: number, shardVersion: number): Promise<void> {
      if (shardVersion < this.view.map.version) {
        const r = await this.write(s, () => this.assignment(s));
        if (r?.kind === 'rejected' && r.code === 'locked') {
          handoffsRefused += 1;
          await this.settle(s, r.intent);
        }
        return;
      }
      this.step();
      const before = this.view.map.version;
      this.view = viewOf(await readCatalog());
      if (this.view.map.version === before && shardVersion === before) throw new Error(`sim: shard ${s} refused a key under map version ${before}, which it holds`);
    }

    /** A routed write (put, delete, single-shard txn); null when its outcome is unknown; 'remap' when the keys no longer live on one shard. */
    async routed(key: string, build: (mapVersion: number) => Command, oneShard?: () => boolean): Promise<KvResult | null | 'remap'> {
      for (let attempt = 0; attempt < 40; attempt++) {
        const s = shardOfKey(this.view.map, key);
        const r = await this.write(s, () => build(this.view.map.version));
        if (r === null) return null;
        if (r.kind === 'rejected' && r.code === 'wrong_shard') {
          await this.correct(s, r.version);
          if (oneShard && !oneShard()) return 'remap';
          continue;
        }
        if (r.kind === 'rejected' && r.code === 'locked') {
          await this.settle(s, r.intent);
          continue;
        }
        if (r.kind === 'rejected' && r.code === 'moving') {
          await sleep(5 + Math.floor(random() * 10));
          continue;
        }
        return r;
      }
      return null;
    }

    async get(key: string): Promise<string | null | undefined> {
      for (let attempt = 0; attempt < 40; attempt++) {
        const s = shardOfKey(this.view.map, key);
        this.step();
        const version = this.view.map.version;
        const r = await read(s, (sm) => sm.shardGet(key, version));
        if (r === 'unavailable' || r.kind === 'moving') {
          await sleep(5);
          continue;
        }
        if (r.kind === 'intent') {
          await this.settle(s, r.intent);
          continue;
        }
        if (r.kind === 'wrong_shard') {
          await this.correct(s, r.version);
          continue;
        }
        return r.value?.value ?? null;
      }
      return undefined;
    }

    split(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[]): Map<number, { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] }> {
      const split = new Map<number, { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] }>();
      const part = (key: string) => {
        const s = shardOfKey(this.view.map, key);
        if (!split.has(s)) split.set(s, { compare: [], success: [], failure: [] });
        return split.get(s)!;
      };
      for (const c of compare) part(c.key).compare.push(c);
      for (const op of success) part(keyOfOp(op)).success.push(op);
      for (const op of failure) part(keyOfOp(op)).failure.push(op);
      return split;
    }

    /** A transaction attempt: its output, null (unknown), or 'conflict' (aborted, nothing applied: the client tries again). */
    async txn(compare: TxnCompare[], success: TxnOp[], failure: TxnOp[]): Promise<KeyspaceOutput | null | 'conflict'> {
      const map = this.view.map;
      const split = this.split(compare, success, failure);
      const participants = [...split.keys()].sort((a, b) => a - b);
      const gets = (results: readonly { kind: string; item?: { value: string } | null }[]) => results.filter((r) => r.kind === 'get').map((r) => r.item?.value ?? null);
      if (participants.length === 1) {
        const idem = `t${ids++}`;
        const first = (compare[0]?.key ?? keyOfOp([...success, ...failure][0]!))!;
        const r = await this.routed(first, (mapVersion) => ({ kind: 'txn', id: `c${ids++}`, compare, success, failure, idempotencyKey: idem, mapVersion }), () => this.split(compare, success, failure).size <= 1);
        if (r === 'remap') return 'conflict';
        if (r === null) return null;
        if (r.kind !== 'txn') throw new Error(`sim: a single-shard txn answered ${JSON.stringify(r)}`);
        return { kind: 'txn', succeeded: r.succeeded, gets: gets(r.results) };
      }
      crossShardTxns += 1;
      const txid = `x${ids++}`;
      // The router picks the shard led nearest the caller, a participant or not: here, at random.
      const coordinator = random() < 0.5 ? participants[0]! : Math.floor(random() * (new Set(map.ranges.map((r) => r.shard)).size));
      const deadlineMs = now + INTENT_TIMEOUT_MS;
      const votes = await Promise.all(
        participants.map((s) =>
          this.write(s, () => ({ kind: 'txn-prepare', id: `p${ids++}`, txid, coordinator: `ks_s${String(coordinator).padStart(4, '0')}`, deadlineMs, mapVersion: map.version, ...split.get(s)!, idempotencyKey: `${txid}:${s}` })),
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
      if (outcome === 'abort') {
        // As the router: a participant that refused for its map version is corrected; one whose range is moving is waited for.
        for (const [i, v] of votes.entries()) {
          if (v?.kind === 'rejected' && v.code === 'wrong_shard') {
            await this.correct(participants[i]!, v.version);
            break; // one correction, then a fresh attempt (a second refusal may predate the first correction)
          }
          if (v?.kind === 'rejected' && v.code === 'moving') {
            await sleep(5 + Math.floor(random() * 10));
            break;
          }
        }
        return 'conflict';
      }
      const succeeded = outcome === 'commit-success';
      const branch = succeeded ? success : failure;
      const seen = new Map<number, number>();
      const values: (string | null)[] = [];
      for (const op of branch) {
        const s = shardOfKey(map, keyOfOp(op));
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

    // ------------------------------------------------------------ the grow (keyspace-grow.ts, step for step)

    /** growKeyspace(): record the grow in the catalog (or find it), assign every shard, copy every range, mark each done. True when it finished. */
    async grow(to: number): Promise<boolean> {
      let entry: CatalogEntry | null = null;
      for (let attempt = 0; attempt < 5 && entry === null; attempt++) {
        this.step();
        const current = await readCatalog();
        if (current.grow || current.shards === to) {
          entry = current;
          break;
        }
        const grown = grownMap(current.map, to);
        this.step();
        const next = { map: grown.map, shards: to, grow: { moves: grown.moves.map((m) => ({ ...m, done: false })) } };
        if (await casCatalog(current.revision, next)) entry = { ...next, revision: current.revision + 1 };
      }
      if (entry === null) return false;
      if (!entry.grow) return true;
      this.view = viewOf(entry);
      // In parallel, as keyspace-grow.ts: every shard's assignment, then every range's copy.
      const assigned = await Promise.all(Array.from({ length: entry.shards }, (_, s) => this.assign(s)));
      if (assigned.includes(false)) return false;
      const copied = await Promise.all(
        this.view.moving.map(async (move) => {
          if (!(await this.copy(move))) return false;
          await this.markDone(move);
          return true;
        }),
      );
      return !copied.includes(false);
    }

    private async assign(s: number): Promise<boolean> {
      for (let attempt = 0; attempt < 40; attempt++) {
        const r = await this.write(s, () => this.assignment(s));
        if (r === null) return false;
        if (r.kind === 'shard-assigned') {
          if (r.version !== this.view.map.version) throw new Error(`sim: shard ${s} holds map version ${r.version} while ${this.view.map.version} grows`);
          return true;
        }
        if (r.kind === 'rejected' && r.code === 'locked') {
          handoffsRefused += 1;
          await this.settle(s, r.intent);
          continue;
        }
        throw new Error(`sim: shard-assign answered ${JSON.stringify(r)}`);
      }
      return false;
    }

    private async copy(move: RangeMove): Promise<boolean> {
      const version = this.view.map.version;
      // Chunks of 1 to 3 keys (the router's are up to EXPORT_KEYS_MAX): with the run's few keys, a copy takes several.
      const limit = 1 + Math.floor(random() * 3);
      let after: string | null = null;
      for (;;) {
        const page = await this.write(move.source, () => ({ kind: 'shard-export', id: `e${ids++}`, version, from: move.from, to: move.to, after, limit }));
        if (page === null) return false;
        if (page.kind !== 'shard-export') throw new Error(`sim: shard-export answered ${JSON.stringify(page)}`);
        if (page.items.length > 0) {
          const installed = await this.write(move.target, () => ({ kind: 'shard-install', id: `n${ids++}`, version, items: page.items.map((i) => [i.key, i.value] as const), revisionFloor: page.revision }));
          if (installed === null) return false;
          if (installed.kind !== 'shard-installed') throw new Error(`sim: shard-install answered ${JSON.stringify(installed)}`);
          if (installed.applied) movedKeys += installed.keys;
          if (!installed.applied) break;
        }
        if (!page.more) break;
        after = page.items[page.items.length - 1]!.key;
      }
      const ready = await this.write(move.target, () => ({ kind: 'shard-ready', id: `y${ids++}`, version, from: move.from, to: move.to }));
      if (ready === null) return false;
      const dropped = await this.write(move.source, () => ({ kind: 'shard-drop', id: `z${ids++}`, version, from: move.from, to: move.to }));
      return dropped !== null;
    }

    private async markDone(move: RangeMove): Promise<void> {
      for (let attempt = 0; attempt < 20; attempt++) {
        this.step();
        const current = await readCatalog();
        if (!current.grow) return;
        const moves = current.grow.moves.map((m) => (m.from === move.from && m.to === move.to ? { ...m, done: true } : m));
        this.step();
        if (await casCatalog(current.revision, { map: current.map, shards: current.shards, grow: moves.every((m) => m.done) ? null : { moves } })) return;
      }
    }
  }

  /** The grow of this run: drivers that may crash at any step, repeated (the admin repeating the call, or a router nudging it) until it ends. */
  let grown = options.growTo === 0;
  const growing = (async () => {
    if (options.growTo === 0) return;
    await sleep(options.growAtMs);
    for (let attempt = 0; attempt < 50 && !grown; attempt++) {
      // Now and then a second driver runs at the same time (a router that found the grow stalled): the steps are idempotent.
      const drivers = random() < 0.5 ? 2 : 1;
      const runs = Array.from({ length: drivers }, async (_, d) => {
        await sleep(d * Math.floor(random() * 20));
        const w = new Worker(options.growCrashRate, viewOf(catalog));
        try {
          if (await w.grow(options.growTo)) grown = true;
        } catch (e) {
          if (!(e instanceof Crash)) throw e;
          growCrashes += 1;
        }
      });
      await Promise.all(runs);
      if (!grown) await sleep(10 + Math.floor(random() * 40));
    }
  })();

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
    // The client's isolate: its catalog view outlives each request (a cache), corrected when a shard refuses it.
    let view: View = viewOf(catalog);
    for (let n = 0; n < options.opsPerClient; n++) {
      const w = new Worker(options.workerCrashRate, view);
      const key = keys[Math.floor(random() * keys.length)]!;
      const other = keys[Math.floor(random() * keys.length)]!;
      const value = `c${clientId}.${n}`;
      const roll = random();
      if (roll < 0.25) {
        const idem = `i${ids++}`;
        await record(clientId, { kind: 'put', key, value }, async () => {
          const r = await w.routed(key, (mapVersion) => ({ kind: 'put', id: `c${ids++}`, key, value, idempotencyKey: idem, mapVersion }));
          return r === null || r === 'remap' ? null : { kind: 'put' };
        });
      } else if (roll < 0.5) {
        await record(clientId, { kind: 'get', key }, async () => {
          const v = await w.get(key);
          return v === undefined ? null : { kind: 'get', value: v };
        });
      } else if (roll < 0.58) {
        const idem = `i${ids++}`;
        await record(clientId, { kind: 'delete', key }, async () => {
          const r = await w.routed(key, (mapVersion) => ({ kind: 'delete', id: `c${ids++}`, key, idempotencyKey: idem, mapVersion }));
          return r === null || r === 'remap' ? null : r.kind === 'delete' ? { kind: 'delete', deleted: r.deleted } : null;
        });
      } else {
        // A transaction over two keys (often on two shards): move a value, or read both (read-only, serializable through 2PC).
        const third = keys[Math.floor(random() * keys.length)]!;
        const readOnly = random() < 0.3;
        // Some write both keys: half of such a transaction (one shard's part lost or applied twice) shows in any later read of both.
        const both = !readOnly && key !== other && random() < 0.4;
        const compare: TxnCompare[] = readOnly ? [] : [{ key, target: 'revision', op: random() < 0.5 ? '==' : '!=', value: 0 }];
        const success: TxnOp[] = readOnly
          ? [{ get: { key } }, { get: { key: other } }]
          : key === other
            ? [{ put: { key, value } }]
            : both
              ? [{ put: { key: other, value } }, { put: { key, value } }]
              : [{ put: { key: other, value } }, { get: { key } }];
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
      view = w.view;
    }
  };

  const running = Promise.all([...Array.from({ length: options.clients }, (_, i) => client(i)), growing]);
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
  const janitor = new Worker(0, viewOf(catalog));
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
    // A grow the campaign's drivers left unfinished is finished by one more call (liveness: nothing stays moving).
    if (!grown && (await janitor.grow(options.growTo))) grown = true;
    janitor.view = viewOf(catalog);
    for (const key of keys) await record(-1, { kind: 'get', key }, async () => ({ kind: 'get', value: (await janitor.get(key)) ?? null }));
  })();
  const finished = (): void => {
    janitorDone = true;
  };
  sweep.then(finished, finished);
  await drain(() => janitorDone, 1_000_000);
  await sweep;
  const left = shards.flatMap((s, i) => s.sm.preparedIds().map((t) => `${t}@${i}`));
  const base = { options, ops: history.length, crossShardTxns, workerCrashes, settled, growCrashes, movedKeys, handoffsRefused, reproduce: `npm run sim:keyspace -- --seed ${options.seed}` };
  if (left.length > 0) return { ...base, ok: false, check: 'liveness', message: `intents left after the janitor settled every one: ${left.join(', ')}` };
  if (options.growTo > 0) {
    const stuck = shards.flatMap((sh, i) => ((sh.sm.shard?.incoming?.length ?? 0) > 0 ? [`shard ${i} still copying in`] : []));
    if (catalog.grow || catalog.shards !== options.growTo || stuck.length > 0) return { ...base, ok: false, check: 'liveness', message: `the grow to ${options.growTo} shards did not finish: ${catalog.grow ? 'the catalog still records it' : stuck.join(', ')}` };
    // Every handed-off key was dropped at its source: nothing a shard holds lies outside what it owns.
    const stray = shards.flatMap((sh, i) => keys.filter((k) => sh.sm.get(k) !== undefined && shardOfKey(catalog.map, k) !== i).map((k) => `${k}@${i}`));
    if (stray.length > 0) return { ...base, ok: false, check: 'liveness', message: `keys left at a shard that no longer owns them: ${stray.join(', ')}` };
  }
  const verdict = checkLinearizability(keyspaceModel, history, { maxSteps: options.checkSteps ?? CHECK_STEPS });
  // A search that ran out of budget proved nothing either way: reported as inconclusive, never as a pass or a failure.
  if (!verdict.ok && verdict.reason === 'budget-exhausted') return { ...base, ok: true, inconclusive: true, check: null, message: verdict.explanation };
  if (!verdict.ok) return { ...base, ok: false, check: 'linearizability', message: verdict.explanation };
  return { ...base, ok: true, check: null, message: null };
}

