import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * src/core must stay a pure, deterministic state machine: the same inputs give
 * the same outputs in the simulator, in workerd and in unit tests. This test
 * parses every core file and refuses imports from outside src/core and any use
 * of clocks, timers, ambient randomness, crypto or console. The key-value
 * application (src/kv) is held to the same rules: it may import from the core
 * and nothing else.
 */
const CORE_DIR = join(import.meta.dirname, '../../src/core');
const KV_DIR = join(import.meta.dirname, '../../src/kv');
const BANNED_GLOBALS = new Set(['Date', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'crypto', 'console', 'fetch', 'performance', 'process', 'globalThis']);

/** `allowed`: import specifiers a file may use (the core: its own `./` modules only). */
export function findImpurities(fileName: string, source: string, allowed: readonly string[] = ['./']): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const where = (n: ts.Node): string => `${fileName}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const spec = n.moduleSpecifier.text;
      if (!allowed.some((a) => spec.startsWith(a))) found.push(`${where(n)} imports '${spec}' (only ${allowed.join(' and ')} modules are allowed)`);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) found.push(`${where(n)} uses dynamic import()`);
    if (ts.isIdentifier(n) && BANNED_GLOBALS.has(n.text)) {
      const p = n.parent;
      const isPropertyName = (ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n);
      if (!isPropertyName) found.push(`${where(n)} uses ${n.text}`);
    }
    if (ts.isPropertyAccessExpression(n) && n.expression.getText(sf) === 'Math' && n.name.text === 'random') {
      found.push(`${where(n)} uses Math.random`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

describe('core: purity', () => {
  it('no file in src/core imports from outside it or touches clocks, timers, randomness, crypto or console', () => {
    const files = readdirSync(CORE_DIR).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    const found = files.flatMap((f) => findImpurities(`src/core/${f}`, readFileSync(join(CORE_DIR, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('no file in src/kv imports from outside it and src/core, or touches clocks, timers, randomness, crypto or console', () => {
    const files = readdirSync(KV_DIR).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(0);
    const found = files.flatMap((f) => findImpurities(`src/kv/${f}`, readFileSync(join(KV_DIR, f), 'utf8'), ['./', '../core/']));
    expect(found).toEqual([]);
    expect(findImpurities('src/kv/x.ts', "import { a } from '../host/a.ts';", ['./', '../core/'])).toHaveLength(1);
  });

  it('the scanner itself flags each banned construct', () => {
    const bad = [
      "import { DurableObject } from 'cloudflare:workers';",
      "import { Hono } from 'hono';",
      "import x from '../api/x.ts';",
      'const t = Date.now();',
      'const r = Math.random();',
      'setTimeout(() => {}, 1);',
      'setInterval(() => {}, 1);',
      'const u = crypto.randomUUID();',
      "console.log('x');",
    ];
    for (const line of bad) expect(findImpurities('fixture.ts', line), line).toHaveLength(1);
    expect(findImpurities('fixture.ts', "import { a } from './a.ts'; const o = { console: 1 }; o.console; Math.max(1, 2);")).toEqual([]);
  });
});
