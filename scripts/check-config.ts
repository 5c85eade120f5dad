/**
 * Refuses to start `npm run dev` on an invalid embedded configuration: reads
 * EDGEPAXOS_CONFIG from wrangler.toml and validates it with the same schema the
 * Worker uses, printing what is wrong instead of a stack trace.
 */
import { unstable_readConfig } from 'wrangler';
import { ConfigError, parseClusterConfig } from '../src/host/config.ts';

const file = process.argv[2] ?? 'wrangler.toml';
let raw: unknown;
try {
  raw = (unstable_readConfig({ config: file }, { hideWarnings: true }).vars as Record<string, unknown> | undefined)?.EDGEPAXOS_CONFIG;
} catch (e) {
  console.error(`edgepaxos: cannot read ${file}: ${(e as Error).message}`);
  process.exit(1);
}
try {
  const config = parseClusterConfig(raw);
  const summary = config.streams.map((s) => `${s.name} (${s.replicas.map((r) => `${r.id}@${r.region}`).join(', ')})`).join('; ');
  console.log(`edgepaxos: configuration ok: ${summary}`);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`edgepaxos: refusing to start: ${e.message}`);
  process.exit(1);
}
