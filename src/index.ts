/**
 * The Worker: the HTTP API (src/api) in front of the replicas, which are
 * Durable Objects (src/host) running the pure Multi-Paxos core (src/core).
 * Other Workers call it through a service binding to `EdgePaxos` (data) or,
 * to steer the cluster, `EdgePaxosAdmin` (operator controls).
 */
import { app } from './api/app.ts';
import { scheduledBackups } from './api/scheduled-backups.ts';

export { RequestMetrics } from './api/metrics/requests.ts';
export { EdgePaxos } from './api/rpc.ts';
export { EdgePaxosAdmin } from './api/admin-rpc.ts';
export { ReplicaObject } from './host/replica-object.ts';

/** HTTP goes to the API; a cron trigger takes the scheduled backups (when an R2 bucket is bound as BACKUPS). */
export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(scheduledBackups(env));
  },
} satisfies ExportedHandler<Cloudflare.Env>;
