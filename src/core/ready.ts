import type { Ballot } from './ballot.ts';
import type { ConfigurationAt } from './configuration.ts';
import type { Entry, QuietRecord, Snapshot } from './log.ts';
import type { Message } from './messages.ts';

/**
 * What the host must do, in this order, before calling `advance`:
 *
 * 1. `persist`: write it durably, in one transaction. Nothing in `messages` may
 *    leave before this write is durable: promises and accepts are only true
 *    once stored.
 * 2. `messages`: send them (losing some is allowed; the protocol retransmits).
 * 3. `installSnapshot`: if set, replace the state machine's state with it;
 *    then `decided`: apply them to the state machine in slot order.
 * 4. `readStates`: each read may be served once the state machine has applied
 *    at least `decidedThrough`.
 * 5. `dropped`: answer those callers; their requests were never proposed (or a
 *    read was never confirmed), so retrying elsewhere is safe.
 */
export interface Ready {
  readonly persist: PersistDelta | null;
  readonly messages: readonly Message[];
  readonly installSnapshot: Snapshot | null;
  readonly decided: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly dropped: DroppedRequests;
}

/** Changes to the durable state since the last Ready; absent fields did not change. */
export interface PersistDelta {
  readonly promised?: Ballot;
  readonly decidedThrough?: number;
  /** Entries to insert or overwrite, by slot. */
  readonly entries: readonly Entry[];
  /** Delete every entry through this slot (after inserting `entries`). */
  readonly compactThrough?: number;
  /** Store this as the latest snapshot (it covers `compactThrough`). */
  readonly snapshot?: Snapshot;
  /** The configuration in effect after the compacted prefix, which no longer holds the command that set it. */
  readonly baseConfig?: ConfigurationAt;
  readonly epoch?: number;
  readonly fenced?: boolean;
  readonly incarnation?: number;
  /** This replica went quiet: store whom it followed at which ballot (log.ts QuietRecord). */
  readonly quiet?: QuietRecord;
  /** Read nonces reserved through this one (log.ts DurableState.readSeqReserved): durable before any such nonce is sent. */
  readonly readSeqReserved?: number;
}

/** A linearizable read may be served from the state machine once it has applied through `decidedThrough` (the leader's decided slot when the read was asked). */
export interface ReadState {
  readonly readId: string;
  readonly decidedThrough: number;
}

export interface DroppedRequests {
  /** Command ids of proposals this replica gave up before assigning them a slot. */
  readonly proposals: readonly string[];
  /** Read ids this replica gave up before confirming them. */
  readonly reads: readonly string[];
}
