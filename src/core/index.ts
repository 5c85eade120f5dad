/** The pure core: Multi-Paxos as a deterministic state machine, and the interface an application's state machine implements. */
export * from './ballot.ts';
export * from './command.ts';
export * from './configuration.ts';
export * from './election-timing.ts';
export * from './flow-control.ts';
export * from './log.ts';
export * from './membership.ts';
export * from './messages.ts';
export * from './quorum.ts';
export * from './ready.ts';
export * from './replica.ts';
export * from './replica-options.ts';
export * from './rng.ts';
export * from './state-machine.ts';
export * from './timeout.ts';
export * from './travelling-rounds.ts';
