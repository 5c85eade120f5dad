// Accept rounds a leader sent to one acceptor that it has not acknowledged yet.
// Catch-up (re-sending decided slots to an acceptor that reports less than the
// leader knows) skips what is still travelling, so a slow or distant acceptor
// gets each slot once, not once in its round and again as catch-up.

/** The rounds sent to one acceptor, oldest first; contiguous by construction (the leader's slots only grow). */
export class TravellingRounds {
  private rounds: { firstSlot: number; lastSlot: number; tick: number }[] = [];
  /** More rounds than this unacknowledged: forget them all (catch-up then covers everything, as if none were travelling). */
  private readonly maxRounds: number;

  constructor(maxRounds = 256) {
    this.maxRounds = maxRounds;
  }

  sent(firstSlot: number, lastSlot: number, tick: number): void {
    const last = this.rounds[this.rounds.length - 1];
    if (last && firstSlot !== last.lastSlot + 1) this.rounds = []; // not contiguous: a new run of slots
    if (this.rounds.length >= this.maxRounds) this.rounds = [];
    this.rounds.push({ firstSlot, lastSlot, tick });
  }

  /**
   * The highest slot that catch-up may treat as on its way: every slot from
   * `ackedThrough + 1` to it is in a round sent less than `freshTicks` ago.
   * Returns `ackedThrough` when nothing is, or when the oldest round is
   * overdue (lost, or the acceptor is stuck): then catch-up sends it all again.
   */
  travellingThrough(ackedThrough: number, nowTicks: number, freshTicks: number): number {
    while (this.rounds.length > 0 && this.rounds[0]!.lastSlot <= ackedThrough) this.rounds.shift();
    const oldest = this.rounds[0];
    if (!oldest || oldest.firstSlot > ackedThrough + 1 || nowTicks - oldest.tick >= freshTicks) return ackedThrough;
    return this.rounds[this.rounds.length - 1]!.lastSlot;
  }
}
