import { MAP_HEIGHT, MAP_WIDTH, REGION_POINTS, landOutline } from './map.ts';

/**
 * The dashboard page: static HTML (the same for everyone; it holds no data),
 * a stylesheet and a script served by the Worker. The script asks for the
 * live status (GET /v1/status/events, with the token the operator typed) and
 * draws it; nothing is loaded from anywhere else.
 */

/** Nothing inline, nothing from elsewhere: the page may only load its own script, style and the API. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let html: string | null = null;

export function dashboardHtml(): string {
  html ??= render();
  return html;
}

function render(): string {
  const regions = Object.entries(REGION_POINTS)
    .map(
      ([r, p]) =>
        `<g class="region" data-region="${r}" transform="translate(${p.x} ${p.y})"><title>${r} (${p.city})</title><circle class="anchor" r="3"/><text class="region-name" y="30">${r} · ${p.city}</text><g class="markers"></g></g>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgepaxos dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1>edgepaxos</h1>
  <span id="connection" class="connection" data-state="connecting">connecting…</span>
  <form id="auth" class="auth">
    <label for="token">token</label>
    <input id="token" type="password" autocomplete="off" placeholder="read token, or admin for the controls">
    <button type="submit">use</button>
  </form>
</header>
<main>
  <section class="map-panel" aria-label="replicas by region">
    <h2>replicas of <span id="map-stream">…</span> by region</h2>
    <svg id="map" viewBox="0 0 ${MAP_WIDTH} ${MAP_HEIGHT}" role="img" aria-label="world map of the replicas">
      <rect class="sea" width="${MAP_WIDTH}" height="${MAP_HEIGHT}"/>
      <path class="land" d="${landOutline()}"/>
      ${regions}
    </svg>
    <p class="legend"><span class="key leader">★ leader</span> <span class="key follower">follower</span> <span class="key candidate">candidate</span> <span class="key other">logger, passive</span> <span class="key down">unreachable, fenced</span> <span class="key quiet">quiet (dashed)</span></p>
  </section>
  <section id="streams" class="streams" aria-live="polite"></section>
</main>
<footer id="message" class="message" role="status"></footer>
</body>
</html>
`;
}

export const DASHBOARD_CSS = `
:root { --bg: #0f1419; --panel: #161d25; --line: #2a3542; --text: #d9e1e8; --dim: #8b98a5; --leader: #f5b942; --follower: #4aa3df; --candidate: #c678dd; --other: #7fbf7f; --down: #e06c75; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
header.top { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .4rem; }
.connection { font-size: .85rem; padding: .1rem .5rem; border-radius: 1rem; background: var(--line); }
.connection[data-state="live"] { background: #1f5130; }
.connection[data-state="error"] { background: #5c2228; }
.auth { margin-left: auto; display: flex; gap: .4rem; align-items: center; }
.auth input { width: 18rem; background: var(--bg); color: var(--text); border: 1px solid var(--line); padding: .25rem .4rem; }
button, select { background: var(--line); color: var(--text); border: 1px solid #3b4a5a; padding: .25rem .6rem; border-radius: 3px; cursor: pointer; }
button:hover { background: #3b4a5a; }
main { display: grid; grid-template-columns: minmax(480px, 1.2fr) 1fr; gap: 1rem; padding: 1rem; }
@media (max-width: 1100px) { main { grid-template-columns: 1fr; } }
.map-panel svg { width: 100%; height: auto; border: 1px solid var(--line); }
.sea { fill: #0b1620; }
.land { fill: #25323f; stroke: #33475a; stroke-width: .5; }
.region .anchor { fill: var(--dim); }
.region .region-name { display: none; fill: var(--text); font-size: 13px; text-anchor: middle; }
.region.used .region-name { display: inline; }
.marker circle { stroke: #0b1620; stroke-width: 1.5; }
.marker text { font-size: 13px; font-weight: 600; text-anchor: middle; fill: #0b1620; }
.marker[data-role="leader"] circle { fill: var(--leader); }
.marker[data-role="follower"] circle { fill: var(--follower); }
.marker[data-role="candidate"] circle, .marker[data-role="pre-candidate"] circle { fill: var(--candidate); }
.marker[data-role="logger"] circle, .marker[data-role="passive"] circle, .marker[data-role="non-member"] circle { fill: var(--other); }
.marker[data-role="unreachable"] circle, .marker[data-role="fenced"] circle { fill: var(--down); }
.marker[data-quiet="true"] circle { stroke: var(--text); stroke-dasharray: 3 2; }
.marker .crown { fill: var(--leader); font-size: 18px; }
.legend { color: var(--dim); font-size: .8rem; }
.key::before { content: "●"; margin-right: .2rem; }
.key.leader::before { content: ""; }
.key.leader { color: var(--leader); } .key.follower::before { color: var(--follower); } .key.candidate::before { color: var(--candidate); }
.key.other::before { color: var(--other); } .key.down::before { color: var(--down); } .key.quiet::before { content: "◌"; }
.stream { background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: .6rem .8rem; margin-bottom: 1rem; cursor: pointer; }
.stream.selected { border-color: var(--leader); }
.stream .facts { color: var(--dim); font-size: .85rem; margin: .2rem 0 .4rem; }
.stream .facts b { color: var(--text); font-weight: 600; }
.stream .blocked { color: var(--down); }
.stream .minority { color: var(--down); font-weight: 700; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .15rem .4rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--dim); font-weight: 500; font-size: .8rem; }
tr[data-role="leader"] td { color: var(--leader); }
tr[data-role="unreachable"] td, tr[data-role="fenced"] td { color: var(--down); }
.controls { display: flex; gap: .4rem; flex-wrap: wrap; margin-top: .5rem; align-items: center; }
.controls .label { color: var(--dim); font-size: .8rem; }
.message { padding: .4rem 1rem; color: var(--dim); min-height: 1.8rem; border-top: 1px solid var(--line); }
.message[data-kind="error"] { color: var(--down); }
.message[data-kind="ok"] { color: #98c379; }
`;
