/**
 * The Worker: the HTTP API (src/api) in front of the replicas, which are
 * Durable Objects (src/host) running the pure Multi-Paxos core (src/core).
 * Other Workers call it through a service binding to `EdgePaxos`.
 */
import { app } from './api/app.ts';

export { EdgePaxos } from './api/rpc.ts';
export { ReplicaObject } from './host/replica-object.ts';
export default app;
