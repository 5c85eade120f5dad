// Accept batches a leader sent to one acceptor that it has not acknowledged yet.
// Catch-up (re-sending decided slots to an acceptor that reports less than the
// leader knows) skips what is still travelling, so a slow or distant acceptor
// gets each slot once, not once in its batch and again as catch-up.

/** The batches sent to one acceptor, oldest first; contiguous by construction (the leader's slots only grow). */
export class TravellingBatches {
  private batches: { firstSlot: number; lastSlot: number; tick: number }[] = [];
  /** More batches than this unacknowledged: forget them all (catch-up then covers everything, as if none were travelling). */
  private readonly maxRounds: number;

  constructor(maxRounds = 256) {
    this.maxRounds = maxRounds;
  }

  sent(firstSlot: number, lastSlot: number, tick: number): void {
    const last = this.batches[this.batches.length - 1];
    if (last && firstSlot !== last.lastSlot + 1) this.batches = []; // not contiguous: a new run of slots
    if (this.batches.length >= this.maxRounds) this.batches = [];
    this.batches.push({ firstSlot, lastSlot, tick });
  }

  /**
   * The highest slot that catch-up may treat as on its way: every slot from
   * `ackedThrough + 1` to it is in a batch sent less than `freshTicks` ago.
   * Returns `ackedThrough` when nothing is, or when the oldest batch is
   * overdue (lost, or the acceptor is stuck): then catch-up sends it all again.
   */
  travellingThrough(ackedThrough: number, nowTicks: number, freshTicks: number): number {
    while (this.batches.length > 0 && this.batches[0]!.lastSlot <= ackedThrough) this.batches.shift();
    const oldest = this.batches[0];
    if (!oldest || oldest.firstSlot > ackedThrough + 1 || nowTicks - oldest.tick >= freshTicks) return ackedThrough;
    return this.batches[this.batches.length - 1]!.lastSlot;
  }
}
