import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScriptRunner, formatScript, parseScript } from './script.ts';

// Golden transcripts of the stories that matter most (test/sim/script.ts
// describes the format). Each file is one story, told by a script and the
// trace it must produce. To regenerate after an intended change:
//   UPDATE_GOLDEN=1 npx vitest run --project node test/sim/golden.test.ts

const DIR = join(import.meta.dirname, 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

describe('golden transcripts', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

  it('there is a transcript for each story that matters most', () => {
    expect(files).toEqual(['check-quorum.txt', 'fencing.txt', 'minority-mode.txt', 'pre-vote.txt', 'quiet-restart.txt', 'transfer.txt']);
  });

  for (const file of files) {
    it(`golden: ${file.replace(/\.txt$/, '')}: the trace matches the transcript`, () => {
      const path = join(DIR, file);
      const { blocks, trailer } = parseScript(readFileSync(path, 'utf8'));
      expect(blocks.length).toBeGreaterThan(0);
      const runner = new ScriptRunner();
      const outputs = blocks.map((b) => runner.run(b.command));
      if (UPDATE) {
        writeFileSync(path, formatScript(blocks, outputs, trailer));
        return;
      }
      blocks.forEach((b, i) => expect(outputs[i], `${file}: ${b.command}`).toEqual(b.expected));
    });
  }
});
