/**
 * Structured logs: one JSON line per notable event, which Workers Logs
 * (`[observability]` in wrangler.toml) indexes field by field. Every line
 * has `event` and `level`; a replica's carry `stream`, `replica` and `term`,
 * and `request_id` when they happened while serving a Worker request.
 */
export function logEvent(fields: { readonly event: string; readonly [field: string]: unknown }): void {
  const level = WARNINGS.has(fields.event) ? 'warn' : 'info';
  console.log(JSON.stringify({ level, ...fields }));
}

/** Events an operator should look at. */
const WARNINGS = new Set(['step_down', 'election_lost', 'fenced', 'minority_mode', 'overloaded', 'auth_refused', 'refused']);
