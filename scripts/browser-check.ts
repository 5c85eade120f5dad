/**
 * `npm run test:browser`: the API reference page in a real headless browser.
 * Starts `wrangler dev` (the same Worker as `npm run dev`, with .dev.vars) on
 * its own port and storage, loads /docs in Chromium and checks that it shows
 * every route of /openapi.json, with no console error and no request leaving
 * this machine; saves a screenshot as test-results/docs.png. It also drives
 * the typed HTTP client (edgepaxos/client) from Node against the same Worker.
 *
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`)
 * or at $CHROMIUM. Port: $EDGEPAXOS_BROWSER_PORT (default 8799). Prints
 * `browser check: N of M passed` and writes the counts to test-results/browser.json
 * (.ci/run adds them to its closing line).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
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

    // The typed client, from Node, against the same Worker (its data plane is public under .dev.vars).
    const client = new EdgePaxosClient({ url: base });
    const put = await client.put('default', 'browser-check/a/../b', 'from node');
    const got = await client.get('default', 'browser-check/a/../b');
    check('the HTTP client writes and reads from Node', got?.value === 'from node' && got.revision === put.revision, JSON.stringify(got));
    const conflict = await client.put('default', 'browser-check/a/../b', 'x', { ifRevision: 0 }).catch((e: unknown) => e as { code?: string });
    check('the HTTP client throws EdgePaxosError with the code', (conflict as { code?: string }).code === 'revision_mismatch', JSON.stringify(conflict));
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
