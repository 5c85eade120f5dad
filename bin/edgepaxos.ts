#!/usr/bin/env node
/**
 * `npx edgepaxos ...`: the CLI (src/cli) in a terminal, run by the project's
 * Node 22 (which runs TypeScript as it is). `npx edgepaxos help` lists the commands.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { runCli } from '../src/cli/cli.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data, 'utf8'),
});
