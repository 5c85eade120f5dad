import type { SnapshotDocument } from '../../client/types.ts';
import { type Command, UsageError, arg, noMoreArgs } from '../command.ts';

export const snapshotSave: Command = {
  name: 'snapshot save',
  args: 'STREAM FILE',
  summary: "Save a consistent snapshot of a stream's state (at a decided slot, checksummed) to FILE",
  async run(ctx) {
    const stream = arg(ctx, 0, 'STREAM');
    const file = arg(ctx, 1, 'FILE');
    noMoreArgs(ctx, 2);
    const doc = await ctx.client.snapshot(stream);
    await ctx.io.writeFile(file, JSON.stringify(doc));
    const { state: _state, ...about } = doc;
    return { data: { ...about, file }, text: `saved stream ${stream} at slot ${doc.slot} to ${file} (${doc.bytes} bytes of state, sha256 ${doc.sha256})` };
  },
};

export const snapshotRestore: Command = {
  name: 'snapshot restore',
  args: 'FILE STREAM',
  summary: 'Restore a saved snapshot into a new stream STREAM (created with the definition the file holds)',
  details: 'A restore that reports replicas not reached left the stream restoring (it answers 503 until done): run the same command again.',
  async run(ctx) {
    const file = arg(ctx, 0, 'FILE');
    const stream = arg(ctx, 1, 'STREAM');
    noMoreArgs(ctx, 2);
    let doc: SnapshotDocument;
    try {
      doc = JSON.parse(await ctx.io.readFile(file)) as SnapshotDocument;
    } catch (e) {
      if (e instanceof SyntaxError) throw new UsageError(`${file} is not a snapshot (not JSON): ${e.message}`);
      throw e;
    }
    const res = await ctx.client.restore(stream, doc);
    const text =
      res.state === 'active'
        ? `restored ${file} (slot ${res.restored_slot}) into stream ${stream}`
        : `stream ${stream} is still restoring: replicas ${res.not_reached?.join(', ')} do not hold the snapshot yet; run this command again`;
    return { data: res, text };
  },
};
