import { type Message, type ReplicaId, type Rng, chance, randomBelow } from '../core/index.ts';

/** Sends one batch to a peer and resolves with the messages the peer returned for us. Never rejects. */
export interface Transport {
  send(to: ReplicaId, messages: Message[]): Promise<Message[]>;
}

/** Fault injection on this replica's outgoing batches: duplicate some, delay all by a random amount (so they reorder). */
export interface Unreliability {
  readonly duplicateRate: number;
  readonly delayMsMax: number;
  /** A slow link: extra milliseconds each way on every batch to these peers (and on their replies), by replica id. */
  readonly peerDelayMs?: Readonly<Record<number, number>>;
}

/** The faults in force on a replica's links (the chaos endpoints); null fields are healed. */
export interface LinkFaults {
  /** Replicas in different groups cannot reach each other (both ways); replicas in no group keep their links. */
  readonly partition: readonly (readonly ReplicaId[])[] | null;
  readonly unreliable: Unreliability | null;
}

/**
 * A transport between replicas with faults and latency injected around the
 * real one: cut links (a partition), duplicated and randomly delayed batches
 * (so they reorder), slow links to named peers, and the WAN latency model of
 * local runs (half the round trip between two regions each way). Every random
 * draw comes from the injected seeded `rng`, so a fault pattern is
 * reproducible from its seed. With no faults and no latency it adds nothing
 * but a function call.
 *
 * A duplicated batch is sent twice; the replies of both copies come back
 * together once both have arrived. Only the host's own batches count as its
 * RPCs (cost counters): duplicates are the fault, not the replica's cost.
 */
export class ChaosTransport implements Transport {
  private readonly inner: Transport;
  private readonly self: ReplicaId;
  private readonly rng: Rng;
  /** One-way WAN latency to a peer, in milliseconds (0: none). */
  private readonly latencyMs: (peer: ReplicaId) => number;
  private faults: LinkFaults;

  constructor(inner: Transport, self: ReplicaId, rng: Rng, faults: LinkFaults, latencyMs: (peer: ReplicaId) => number = () => 0) {
    this.inner = inner;
    this.self = self;
    this.rng = rng;
    this.faults = faults;
    this.latencyMs = latencyMs;
  }

  get partition(): LinkFaults['partition'] {
    return this.faults.partition;
  }

  get unreliable(): Unreliability | null {
    return this.faults.unreliable;
  }

  setPartition(groups: LinkFaults['partition']): void {
    this.faults = { ...this.faults, partition: groups };
  }

  setUnreliable(u: Unreliability | null): void {
    this.faults = { ...this.faults, unreliable: u };
  }

  /** True if a partition cuts the link between this replica and `peer` (nothing crosses it either way). */
  isCut(peer: ReplicaId): boolean {
    const p = this.faults.partition;
    if (!p) return false;
    const mine = p.findIndex((g) => g.includes(this.self));
    const theirs = p.findIndex((g) => g.includes(peer));
    return mine >= 0 && theirs >= 0 && mine !== theirs;
  }

  send(to: ReplicaId, messages: Message[]): Promise<Message[]> {
    if (this.isCut(to)) return Promise.resolve([]);
    const u = this.faults.unreliable;
    const wanMs = this.latencyMs(to) + (u?.peerDelayMs?.[to] ?? 0);
    if (!u && wanMs === 0) return this.inner.send(to, messages);
    const copies = u && chance(this.rng, u.duplicateRate) ? 2 : 1;
    const sends: Promise<Message[]>[] = [];
    for (let i = 0; i < copies; i++) {
      const delayMs = wanMs + (u ? randomBelow(this.rng, Math.floor(u.delayMsMax) + 1) : 0);
      const sent = delayMs > 0 ? sleep(delayMs).then(() => this.inner.send(to, messages)) : this.inner.send(to, messages);
      sends.push(wanMs > 0 ? sent.then(async (replies) => (await sleep(wanMs), replies)) : sent);
    }
    return copies === 1 ? sends[0]! : Promise.all(sends).then((all) => all.flat());
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
