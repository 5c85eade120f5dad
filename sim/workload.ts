import { type ClientCommand, type ReplicaId, type Rng, chance, randomBelow } from '../src/core/index.ts';
import type { KvResult } from '../src/kv/index.ts';
import type { KvInput, KvOutput } from './checker/kv-model.ts';
import type { Operation } from './checker/linearizability.ts';
import type { ProposalOutcome, ReadOutcome, SimCluster } from './cluster.ts';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  /** Operations started in all, across clients. */
  readonly operations: number;
  /** Ticks a client waits for an answer before it retries (writes keep their idempotency key). */
  readonly timeoutTicks: number;
  /** Probability that a client whose request timed out gives up on it instead (its outcome stays unknown). */
  readonly giveUpRate: number;
  /** Probability that a client pauses before its next operation, and for how long at most (idle periods). */
  readonly pauseRate?: number;
  readonly pauseTicksMax?: number;
  /** Probability that a client whose replica was down tries the same one again rather than another. */
  readonly stickyRate?: number;
}

type Pending = {
  readonly opNo: number;
  readonly input: KvInput;
  readonly idempotencyKey: string;
  readonly call: number;
  attempt: number;
  /** Tick after which the current attempt counts as lost. */
  deadline: number;
  /** Tick at which to (re)send; Infinity while an attempt is in flight. */
  sendAt: number;
  /** Some attempt was proposed (so it may take effect even if a later attempt is refused). */
  proposed: boolean;
  /** The attempt in flight, to forget at its replica when it times out (as the Worker host does). */
  inFlight: { readonly at: ReplicaId; readonly kind: 'proposal' | 'read'; readonly id: string } | null;
};

/**
 * Concurrent clients doing put/get/delete/compare-and-set over a small key set.
 * Each client has one operation at a time, sends it to the replica it believes
 * leads, follows not-leader hints, and retries writes with the same idempotency
 * key after a timeout. Every operation is recorded for the linearizability
 * checker; one given up has an unknown outcome.
 */
export class Workload {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly clients: Client[];
  started = 0;
  completed = 0;
  gaveUp = 0;
  retries = 0;
  /** Attempts refused by back-pressure (`overloaded`), and operations dropped after one (never proposed, so not in the history). */
  overloaded = 0;
  dropped = 0;
  /** When false (liveness phase), clients never give up. */
  allowGiveUp = true;
  /** A quiet period: no client starts an operation before this tick (the stream goes idle, and may go quiet). */
  quietUntil = 0;

  readonly cluster: SimCluster;
  readonly rng: Rng;
  readonly options: WorkloadOptions;

  constructor(cluster: SimCluster, rng: Rng, options: WorkloadOptions) {
    this.cluster = cluster;
    this.rng = rng;
    this.options = options;
    this.clients = Array.from({ length: options.clients }, (_, i) => new Client(this, i + 1));
  }

  /** Let every client act for this tick. */
  step(): void {
    for (const c of this.clients) c.step();
    this.cluster.flush();
  }

  get idle(): boolean {
    return this.clients.every((c) => c.pending === null);
  }

  get exhausted(): boolean {
    return this.started >= this.options.operations;
  }

  /** Every client stops starting operations until `until` (what is pending goes on). */
  quietPeriod(until: number): void {
    this.quietUntil = Math.max(this.quietUntil, until);
  }

  record(op: Operation<KvInput, KvOutput>): void {
    this.history.push(op);
  }
}

class Client {
  pending: Pending | null = null;
  private opNo = 0;
  /** A pause between operations: no new one starts before this tick. */
  private idleUntil = 0;
  private leaderGuess: ReplicaId;
  private readonly lastRevision = new Map<string, number>();
  private readonly w: Workload;
  readonly id: number;

  constructor(w: Workload, id: number) {
    this.w = w;
    this.id = id;
    this.leaderGuess = w.cluster.ids[randomBelow(w.rng, w.cluster.ids.length)]!;
  }

  step(): void {
    const now = this.w.cluster.now;
    if (!this.pending) {
      if (this.w.exhausted || now < this.idleUntil || now < this.w.quietUntil) return;
      this.begin();
    }
    const p = this.pending!;
    if (p.sendAt === Number.POSITIVE_INFINITY && now >= p.deadline) {
      // The attempt is lost, or too slow: give up, or retry elsewhere.
      if (p.inFlight) this.w.cluster.forget(p.inFlight.at, p.inFlight.kind, p.inFlight.id);
      p.inFlight = null;
      if (this.w.allowGiveUp && chance(this.w.rng, this.w.options.giveUpRate)) {
        this.finishUnknown(p);
        return;
      }
      this.w.retries += 1;
      this.pickAnotherReplica();
      p.sendAt = now;
    }
    if (now >= p.sendAt) this.send(p);
  }

  private begin(): void {
    const rng = this.w.rng;
    const opNo = ++this.opNo;
    this.w.started += 1;
    const key = `k${randomBelow(rng, this.w.options.keys)}`;
    const roll = randomBelow(rng, 100);
    let input: KvInput;
    if (roll < 35) input = { kind: 'put', key, value: `v${this.id}.${opNo}` };
    else if (roll < 65) input = { kind: 'get', key };
    else if (roll < 80) input = { kind: 'delete', key };
    else {
      const known = this.lastRevision.get(key) ?? 0;
      const ifRevision = chance(rng, 0.8) ? known : randomBelow(rng, known + 3);
      input = { kind: 'put', key, value: `v${this.id}.${opNo}`, ifRevision };
    }
    this.pending = {
      opNo,
      input,
      idempotencyKey: `c${this.id}.${opNo}`,
      call: this.w.cluster.clock(),
      attempt: 0,
      deadline: 0,
      sendAt: this.w.cluster.now,
      proposed: false,
      inFlight: null,
    };
  }

  private send(p: Pending): void {
    const cluster = this.w.cluster;
    p.attempt += 1;
    p.sendAt = Number.POSITIVE_INFINITY;
    p.deadline = cluster.now + this.w.options.timeoutTicks;
    const target = this.leaderGuess;
    const opNo = p.opNo;
    let res;
    if (p.input.kind === 'get') {
      const readId = `c${this.id}.${opNo}.${p.attempt}`;
      res = cluster.read(target, readId, p.input.key, (o) => this.onRead(opNo, o));
      if (res.ok) p.inFlight = { at: target, kind: 'read', id: readId };
    } else {
      const command = this.command(p);
      res = cluster.propose(target, command, (o) => this.onProposal(opNo, o));
      if (res.ok) p.inFlight = { at: target, kind: 'proposal', id: command.id };
    }
    if (res.ok && p.input.kind !== 'get') p.proposed = true;
    if (!res.ok && res.reason === 'overloaded') {
      // Refused, so not applied: a client may drop it (it must then never show up as applied) or try again later.
      this.w.overloaded += 1;
      if (this.w.allowGiveUp && chance(this.w.rng, this.w.options.giveUpRate)) {
        if (p.proposed) this.finishUnknown(p);
        else this.drop();
        return;
      }
      p.sendAt = cluster.now + 1 + randomBelow(this.w.rng, 3);
      return;
    }
    if (!res.ok) {
      if (res.reason === 'not-leader' && res.leaderHint !== null) this.leaderGuess = res.leaderHint;
      // Down: a client that believed it leads often tries it again (as the Worker's cached leader would) - it may be back.
      else if (res.reason !== 'down' || !chance(this.w.rng, this.w.options.stickyRate ?? 0)) this.pickAnotherReplica();
      p.sendAt = cluster.now + 1;
    }
  }

  private command(p: Pending): ClientCommand {
    const id = `c${this.id}.${p.opNo}.${p.attempt}`;
    const input = p.input;
    switch (input.kind) {
      case 'put':
        return {
          kind: 'put',
          id,
          key: input.key,
          value: input.value,
          ...(input.ifRevision !== undefined ? { ifRevision: input.ifRevision } : {}),
          idempotencyKey: p.idempotencyKey,
        };
      case 'delete':
        return { kind: 'delete', id, key: input.key, idempotencyKey: p.idempotencyKey };
      default:
        throw new Error(`not a write: ${input.kind}`);
    }
  }

  private onProposal(opNo: number, o: ProposalOutcome): void {
    const p = this.pending;
    if (!p || p.opNo !== opNo) return; // an answer to an operation already finished or given up
    if (o.kind === 'dropped') {
      this.pickAnotherReplica();
      p.sendAt = this.w.cluster.now + 1;
      return;
    }
    if (o.kind === 'outcome-unknown') {
      // Like a timeout, only sooner: give up, or retry with the same idempotency key.
      p.deadline = this.w.cluster.now;
      return;
    }
    this.finish(p, toOutput(o.result));
  }

  private onRead(opNo: number, o: ReadOutcome): void {
    const p = this.pending;
    if (!p || p.opNo !== opNo) return;
    if (o.kind === 'dropped') {
      this.pickAnotherReplica();
      p.sendAt = this.w.cluster.now + 1;
      return;
    }
    const output: KvOutput = o.item
      ? { kind: 'get', found: true, value: o.item.value, revision: o.item.revision }
      : { kind: 'get', found: false };
    this.finish(p, output);
  }

  /** Sometimes the client thinks before its next operation, so the stream sees idle periods. */
  private maybePause(): void {
    const o = this.w.options;
    if (o.pauseRate && o.pauseTicksMax && chance(this.w.rng, o.pauseRate)) {
      this.idleUntil = this.w.cluster.now + randomBelow(this.w.rng, o.pauseTicksMax) + 1;
    }
  }

  private finish(p: Pending, output: KvOutput): void {
    this.maybePause();
    this.w.record({ clientId: this.id, input: p.input, call: p.call, return: this.w.cluster.clock(), output });
    this.w.completed += 1;
    const key = p.input.key;
    if (output.kind === 'put' && output.ok) this.lastRevision.set(key, output.revision);
    if (output.kind === 'put' && !output.ok) this.lastRevision.set(key, output.currentRevision);
    if (output.kind === 'get') this.lastRevision.set(key, output.found ? output.revision : 0);
    if (output.kind === 'delete') this.lastRevision.set(key, 0);
    this.pending = null;
  }

  /** Give up an operation no attempt of which was proposed: it has no effect, so it is not recorded at all. */
  private drop(): void {
    this.maybePause();
    this.w.dropped += 1;
    this.pending = null;
  }

  private finishUnknown(p: Pending): void {
    this.maybePause();
    // A read given up constrains nothing; a write given up may still take effect.
    if (p.input.kind !== 'get') {
      this.w.record({ clientId: this.id, input: p.input, call: p.call, return: Number.POSITIVE_INFINITY, output: undefined });
    }
    this.w.gaveUp += 1;
    this.pending = null;
  }

  private pickAnotherReplica(): void {
    const ids = this.w.cluster.ids;
    this.leaderGuess = ids[randomBelow(this.w.rng, ids.length)]!;
  }
}

function toOutput(r: KvResult): KvOutput {
  switch (r.kind) {
    case 'put':
      return r.ok ? { kind: 'put', ok: true, revision: r.revision } : { kind: 'put', ok: false, currentRevision: r.currentRevision };
    case 'delete':
      return { kind: 'delete', deleted: r.deleted, revision: r.revision };
    default:
      throw new Error(`unexpected result for a client write: ${JSON.stringify(r)}`);
  }
}
