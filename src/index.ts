/**
 * The Worker: the HTTP API (src/api) in front of the replicas, which are
 * Durable Objects (src/host) running the pure Multi-Paxos core (src/core).
 */
import { app } from './api/app.ts';

export { ReplicaObject } from './host/replica-object.ts';
export default app;
