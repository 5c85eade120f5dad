import { runSimulation, describeKnobs } from '/work/wt-sim/sim/simulation.ts';
import { SimCluster } from '/work/wt-sim/sim/cluster.ts';
SimCluster.traceLines = Number(process.env.LINES ?? 400);
const seed = Number(process.argv[2]);
const r = runSimulation({ seed });
if (!r.ok) { console.log(r.check, r.rule, r.message); console.log(describeKnobs(r.knobs)); console.log(r.trace.join('\n')); } else console.log('ok', JSON.stringify(r.stats.counts));
