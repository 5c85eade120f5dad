import type { ClientCommand, Entry } from '../core/index.ts';
import type { KvResult, KvStateMachine } from './kv-state-machine.ts';

/**
 * The leader's lease deadlines (etcd's lessor), outside the replicated state.
 *
 * The replicated lease table says which leases exist and at which slot each
 * was last granted or kept alive; nothing about time. Time is the leader's
 * alone, in its own ticks: a grant or keep-alive applied while it leads sets
 * that lease's deadline to now + its TTL; on becoming leader (in this life of
 * the replica) every lease's deadline is now + its full TTL, whatever an
 * earlier leader had counted (etcd's rule: a failover never expires a live
 * holder's lease). When a deadline passes the leader proposes `lease-expire`
 * with the slot the lease was refreshed at; that applies only if no
 * keep-alive was decided since. Followers keep no deadlines and read no clock.
 *
 * The safety rule this gives (docs/coordination.md, checked by the simulator):
 * a client that sent a keep-alive (or the grant) at T by its own clock and
 * was told it succeeded may rely on the lease until T + TTL - drift
 * allowance. The leader that ends it applied that keep-alive, or became
 * leader, after T, then counted the TTL on its clock; `ttlTicks` rounds up
 * and adds one tick, since "now" is only known to within a tick. Ticks the
 * host drops (a forgiven late wake-up) only make expiry later.
 *
 * Pure, in ticks: the host (the ReadyRunner, as LeaderDuties) tells it of
 * ticks, applied entries and leadership, and proposes what it says is due.
 */
export class LeaseKeeper {
  private readonly kv: KvStateMachine;
  private readonly tickMs: number;
  private leading = false;
  /** Lease id -> tick at which its time is up; only while leading. Leases missing here get one lazily (now + TTL). */
  private readonly deadlines = new Map<string, number>();
  /** Expiries proposed in this leadership: lease id -> the refreshedAt proposed, and when (to propose again if it got lost). */
  private readonly proposed = new Map<string, { refreshedAt: number; atTick: number }>();
  /** An expiry proposed and still not applied after this many ticks is proposed again. */
  private readonly reproposeTicks: number;
  private sequence = 0;
  /** Distinguishes this life's command ids from another life's of the same replica. */
  private readonly idPrefix: string;

  /**
   * `tickMs`: milliseconds per tick of the host; `reproposeTicks`: how long an
   * unapplied expiry waits before it is proposed again (an election timeout);
   * `idPrefix`: makes command ids unique across replicas and lives.
   */
  constructor(kv: KvStateMachine, tickMs: number, reproposeTicks: number, idPrefix: string) {
    if (!(tickMs > 0)) throw new RangeError('lease keeper: tickMs must be positive');
    this.kv = kv;
    this.tickMs = tickMs;
    this.reproposeTicks = Math.max(1, reproposeTicks);
    this.idPrefix = idPrefix;
  }

  /** Ticks a TTL lasts on this replica's clock: rounded up, plus one for not knowing where within a tick "now" is. */
  ttlTicks(ttlMs: number): number {
    return Math.ceil(ttlMs / this.tickMs) + 1;
  }

  /** This replica began or stopped leading. Either way every deadline starts over (a new leader restarts every TTL). */
  leadership(leading: boolean): void {
    this.leading = leading;
    this.deadlines.clear();
    this.proposed.clear();
  }

  get isLeading(): boolean {
    return this.leading;
  }

  /** An entry was applied at tick `now`: a grant or keep-alive restarts the lease's TTL; an ended lease is forgotten. */
  applied(e: Entry, result: KvResult, now: number): void {
    if (!this.leading) return;
    if (result.kind === 'lease' && (e.command.kind === 'lease-grant' || e.command.kind === 'lease-keepalive')) {
      this.deadlines.set(result.lease, now + this.ttlTicks(result.ttlMs));
      this.proposed.delete(result.lease);
    } else if (result.kind === 'lease-ended' || result.kind === 'lease-kept') {
      this.proposed.delete(result.lease);
      if (result.kind === 'lease-ended') this.deadlines.delete(result.lease);
    }
  }

  /** The expiries to propose at tick `now` (none unless leading). */
  due(now: number): ClientCommand[] {
    if (!this.leading) return [];
    const out: ClientCommand[] = [];
    for (const lease of this.kv.leases()) {
      let deadline = this.deadlines.get(lease.id);
      if (deadline === undefined) {
        deadline = now + this.ttlTicks(lease.ttlMs);
        this.deadlines.set(lease.id, deadline);
      }
      if (now < deadline) continue;
      const p = this.proposed.get(lease.id);
      if (p && p.refreshedAt === lease.refreshedAt && now - p.atTick < this.reproposeTicks) continue;
      this.proposed.set(lease.id, { refreshedAt: lease.refreshedAt, atTick: now });
      out.push({ kind: 'lease-expire', id: `${this.idPrefix}-expire-${++this.sequence}`, lease: lease.id, refreshedAt: lease.refreshedAt });
    }
    // Deadlines of leases that ended without this leader seeing the end (a snapshot installed) go too.
    if (this.deadlines.size > this.kv.leases().length) {
      for (const id of [...this.deadlines.keys()]) if (!this.kv.lease(id)) this.deadlines.delete(id);
    }
    return out;
  }

  /** Ticks until the next deadline (0: something is due now), or null when nothing will be due (not leading, no leases). */
  ticksUntilDue(now: number): number | null {
    if (!this.leading) return null;
    let next: number | null = null;
    for (const lease of this.kv.leases()) {
      const deadline = this.deadlines.get(lease.id) ?? now + this.ttlTicks(lease.ttlMs);
      const p = this.proposed.get(lease.id);
      const at = p && p.refreshedAt === lease.refreshedAt ? Math.max(deadline, p.atTick + this.reproposeTicks) : deadline;
      const ticks = Math.max(0, at - now);
      if (next === null || ticks < next) next = ticks;
    }
    return next;
  }

  /** The leader's estimate of a lease's remaining time in milliseconds (null when not leading or no such lease). */
  remainingMs(id: string, now: number): number | null {
    if (!this.leading) return null;
    const lease = this.kv.lease(id);
    if (!lease) return null;
    const deadline = this.deadlines.get(id) ?? now + this.ttlTicks(lease.ttlMs);
    return Math.max(0, Math.min(lease.ttlMs, (deadline - now - 1) * this.tickMs));
  }
}
