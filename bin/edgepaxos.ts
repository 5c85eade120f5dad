#!/usr/bin/env node
/**
 * `npx edgepaxos ...`: the CLI (src/cli) in a terminal, run by the project's
 * Node 22 (which runs TypeScript as it is). `npx edgepaxos help` lists the commands.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { runCli } from '../src/cli/cli.ts';

// Ctrl-C (or a TERM) ends a watch, a held lock or a leadership cleanly: released, then exit.
const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort());

process.exitCode = await runCli(process.argv.slice(2), {
  signal: interrupted.signal,
  exec: (argv, env) =>
    new Promise((done, fail) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
      child.on('error', fail);
      child.on('close', (code, signal) => done(code ?? (signal ? 128 : 1)));
    }),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data, 'utf8'),
});
