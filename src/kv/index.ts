/**
 * The key-value application: a state machine (src/core/state-machine.ts) that
 * the Paxos core knows nothing about. Pure like the core: it imports only
 * from src/core and touches no clock, I/O or ambient randomness.
 */
export * from './kv-state-machine.ts';
export * from './lease-keeper.ts';
export * from './partition.ts';
export * from './two-phase.ts';
export * from './traffic-follower.ts';
