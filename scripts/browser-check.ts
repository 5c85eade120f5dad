/**
 * `npm run test:browser`: the pages in a real headless browser, and the CLI
 * from a terminal. Starts `wrangler dev` (the same Worker as `npm run dev`,
 * with .dev.vars) on its own port and storage, then:
 * - loads /docs in Chromium and checks that it shows every route of
 *   /openapi.json, with no console error and no request leaving this machine
 *   (screenshot: test-results/docs.png);
 * - loads /dashboard and checks that it shows the three default replicas with
 *   the leader marked, that a switchover made through the API shows as the
 *   new leader within two seconds, and that its admin controls (pause,
 *   resume, step down) work, with no console error and nothing loaded from
 *   elsewhere (screenshot: test-results/dashboard.png);
 * - drives the typed HTTP client (edgepaxos/client) from Node and runs
 *   `npx edgepaxos` as a user would, against the same Worker.
 *
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`)
 * or at $CHROMIUM. Port: $EDGEPAXOS_BROWSER_PORT (default 8799). Prints
 * `browser check: N of M passed` and writes the counts to test-results/browser.json
 * (.ci/run adds them to its closing line).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import puppeteer, { type Page } from 'puppeteer-core';
import { EdgePaxosClient } from '../src/client/index.ts';

const port = Number(process.env.EDGEPAXOS_BROWSER_PORT ?? 8799);
const base = `http://127.0.0.1:${port}`;
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const results: { name: string; ok: boolean; detail?: string }[] = [];

function check(name: string, ok: boolean, detail?: string): void {
  results.push({ name, ok, ...(detail !== undefined ? { detail } : {}) });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `: ${detail}` : ''}`);
}

async function waitForWorker(dev: ChildProcess, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (dev.exitCode !== null) throw new Error(`wrangler dev exited with ${dev.exitCode}`);
    try {
      const res = await fetch(`${base}/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer on ${base} within ${timeoutMs} ms`);
}

/** The page's document, as the functions below see it when they run in the browser (waitForFunction). */
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null; readonly textContent: string | null } | null };

/** The admin token of the dev cluster (.dev.vars). */
const ADMIN_TOKEN = 'dev-admin-token';

/** The live dashboard: the default stream's replicas, the leader moving live, the admin controls. */
async function dashboardChecks(page: Page, consoleErrors: string[], outside: string[]): Promise<void> {
  consoleErrors.length = 0;
  outside.length = 0;
  const admin = new EdgePaxosClient({ url: base, token: ADMIN_TOKEN });
  const res = await page.goto(`${base}/dashboard`, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  check('/dashboard answers 200 with HTML', res?.status() === 200 && (res.headers()['content-type'] ?? '').includes('text/html'), `status ${res?.status()}`);
  const card = 'article[data-stream="default"]';
  // The default stream elects its first leader once its replicas are first asked (a second or two).
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-leader') !== '' && document.querySelector(sel) !== null, { timeout: 15_000 }, card);
  const shown = await page.$eval(card, (a) => ({
    leader: a.getAttribute('data-leader'),
    rows: [...a.querySelectorAll('tbody tr')].map((r) => ({ id: r.getAttribute('data-replica'), role: r.getAttribute('data-role'), first: r.querySelector('td')?.textContent ?? '' })),
  }));
  const markers = await page.$$eval('#map .marker', (ms) => ms.map((m) => ({ id: m.getAttribute('data-replica'), role: m.getAttribute('data-role'), crown: m.querySelector('.crown') !== null, region: m.closest('.region')?.getAttribute('data-region') })));
  const leader = shown.leader;
  check(
    '/dashboard shows the three default replicas with the leader marked',
    shown.rows.map((r) => r.id).join() === '1,2,3' &&
      shown.rows.filter((r) => r.role === 'leader').map((r) => r.id).join() === leader &&
      shown.rows.filter((r) => r.first.startsWith('★')).map((r) => r.id).join() === leader,
    JSON.stringify(shown),
  );
  check(
    '/dashboard places the three replicas on the map by region, the leader crowned',
    markers.map((m) => `${m.id}@${m.region}`).sort().join() === '1@wnam,2@weur,3@apac' && markers.filter((m) => m.crown).map((m) => m.id).join() === leader,
    JSON.stringify(markers),
  );

  // A switchover through the API: the page shows the new leader within two seconds of the answer.
  const target = leader === '3' ? 2 : 3;
  await admin.switchover('default', target);
  const answeredAt = Date.now();
  const moved = await page
    .waitForFunction((sel, t) => document.querySelector(sel)?.getAttribute('data-leader') === t && document.querySelector(`#map .marker[data-replica="${t}"] .crown`) !== null, { timeout: 2000 }, card, String(target))
    .then(() => true)
    .catch(() => false);
  check(`/dashboard shows the new leader (${target}) within two seconds of a switchover made through the API`, moved, `still ${await page.$eval(card, (a) => a.getAttribute('data-leader'))} after ${Date.now() - answeredAt} ms`);

  // The controls, with the admin token typed into the page.
  await page.type('#token', ADMIN_TOKEN);
  await page.click('#auth button');
  await page.waitForFunction(() => document.querySelector('#connection')?.getAttribute('data-state') === 'live', { timeout: 10_000 });
  const runMode = async (want: string): Promise<boolean> =>
    page
      .waitForFunction((sel, w) => document.querySelector(`${sel} .run-mode`)?.textContent === w, { timeout: 10_000 }, card, want)
      .then(() => true)
      .catch(() => false);
  await page.click(`${card} button[data-action="pause"]`);
  const paused = (await runMode('manual')) && (await admin.status('default')).run_mode === 'manual';
  check('/dashboard pauses a stream (manual run mode) with an admin token', paused, await page.$eval('#message', (m) => m.textContent ?? ''));
  await page.click(`${card} button[data-action="resume"]`);
  const resumed = (await runMode('automatic')) && (await admin.status('default')).run_mode === 'automatic';
  check('/dashboard resumes it (automatic run mode)', resumed, await page.$eval('#message', (m) => m.textContent ?? ''));
  const before = await page.$eval(card, (a) => a.getAttribute('data-leader'));
  await page.click(`${card} button[data-action="step-down"]`);
  const stepped = await page
    .waitForFunction((sel, b) => { const l = document.querySelector(sel)?.getAttribute('data-leader'); return l !== b && l !== ''; }, { timeout: 10_000 }, card, before)
    .then(() => true)
    .catch(() => false);
  check('/dashboard steps the leader down, and shows the one that took over', stepped, await page.$eval('#message', (m) => m.textContent ?? ''));
  await page.screenshot({ path: 'test-results/dashboard.png' });
  check('a screenshot is saved as test-results/dashboard.png', true);
  check('/dashboard logs no console error', consoleErrors.length === 0, consoleErrors.join(' | '));
  check('/dashboard makes no request off this machine', outside.length === 0, outside.join(', '));
}

/** `npx edgepaxos`, as a user runs it: a table, JSON, and an error with its code and exit status. */
async function cliChecks(): Promise<void> {
  const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)('npx', ['edgepaxos', '--url', base, ...args], { env: { ...process.env, EDGEPAXOS_TOKEN: ADMIN_TOKEN } });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };
  const help = await run('--help');
  check('npx edgepaxos --help lists the commands', help.code === 0 && help.stdout.includes('switchover STREAM TARGET'), help.stderr);
  const list = await run('list');
  const row = list.stdout.split('\n').find((l) => l.startsWith('default '));
  check('npx edgepaxos list prints a table with the default stream and its leader', list.code === 0 && list.stdout.startsWith('STREAM ') && /^default\s+configured\s+[123]\s+\w+/.test(row ?? ''), list.stdout + list.stderr);
  const status = await run('--json', 'status', 'default');
  let nodes = 0;
  try {
    nodes = (JSON.parse(status.stdout) as { nodes: unknown[] }).nodes.length;
  } catch {
    // not JSON: the check fails below
  }
  check('npx edgepaxos --json status default prints the status as JSON', status.code === 0 && nodes === 3, status.stdout + status.stderr);
  const missing = await run('get', 'browser-check/absent');
  check('npx edgepaxos exits 1 with the error code and message', missing.code === 1 && missing.stderr.startsWith("edgepaxos: not_found: no key 'browser-check/absent'"), JSON.stringify(missing));
}

async function main(): Promise<number> {
  mkdirSync('test-results', { recursive: true });
  const state = mkdtempSync(join(tmpdir(), 'edgepaxos-browser-'));
  const logs: string[] = [];
  const dev = spawn('npx', ['wrangler', 'dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', state], {
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  dev.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  dev.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  let browser: Awaited<ReturnType<typeof puppeteer.launch>> | null = null;
  try {
    await waitForWorker(dev, 90_000);
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));

    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    const consoleErrors: string[] = [];
    const outside: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.protocol !== 'data:') outside.push(r.url());
    });
    const res = await page.goto(`${base}/docs`, { waitUntil: 'networkidle0', timeout: 30_000 });
    check('/docs answers 200 with HTML', res?.status() === 200 && (res.headers()['content-type'] ?? '').includes('text/html'), `status ${res?.status()}`);
    const shown = await page.$$eval('article h3', (hs) => hs.map((h) => (h.textContent ?? '').replace(/\s+/g, ' ').trim()));
    const missing = operations.filter((o) => !shown.includes(o));
    check(`/docs shows every route of /openapi.json (${operations.length})`, missing.length === 0 && shown.length === operations.length, `missing: ${missing.join(', ')}; shown ${shown.length}`);
    const title = await page.title();
    check('/docs has its title', title === 'edgepaxos API reference', title);
    const errorCodes = await page.$$eval('code.code', (cs) => cs.map((c) => c.textContent));
    check('/docs lists the error codes', ['revision_mismatch', 'overloaded', 'compacted', 'unauthorized'].every((c) => errorCodes.includes(c)));
    // Runs in the page: the main column is laid out with some height and width.
    const visible = await page.$eval('main', (m) => {
      const box = (m as unknown as { getBoundingClientRect(): { width: number; height: number } }).getBoundingClientRect();
      return box.height > 1000 && box.width > 400;
    });
    check('/docs is laid out (the reference is visible)', visible);
    check('/docs logs no console error', consoleErrors.length === 0, consoleErrors.join(' | '));
    check('/docs makes no request off this machine', outside.length === 0, outside.join(', '));
    await page.screenshot({ path: 'test-results/docs.png' });
    check('a screenshot is saved as test-results/docs.png', true);

    await dashboardChecks(page, consoleErrors, outside);

    // The typed client, from Node, against the same Worker (its data plane is public under .dev.vars).
    const client = new EdgePaxosClient({ url: base });
    const put = await client.put('default', 'browser-check/a/../b', 'from node');
    const got = await client.get('default', 'browser-check/a/../b');
    check('the HTTP client writes and reads from Node', got?.value === 'from node' && got.revision === put.revision, JSON.stringify(got));
    const conflict = await client.put('default', 'browser-check/a/../b', 'x', { ifRevision: 0 }).catch((e: unknown) => e as { code?: string });
    check('the HTTP client throws EdgePaxosError with the code', (conflict as { code?: string }).code === 'revision_mismatch', JSON.stringify(conflict));

    await cliChecks();
  } catch (e) {
    check('the browser check ran to the end', false, `${String(e)}\n${logs.join('').slice(-3000)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    if (dev.pid !== undefined && dev.exitCode === null) {
      try {
        process.kill(-dev.pid, 'SIGTERM'); // the group: npx, wrangler and workerd
      } catch {
        // already gone
      }
    }
    rmSync(state, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  writeFileSync('test-results/browser.json', JSON.stringify({ passed, failed, results }, null, 2));
  console.log(`browser check: ${passed} of ${results.length} passed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

process.exitCode = await main();
