import { MemoryBacking, MemoryStorage } from '../../src/host/memory-storage.ts';
import { storageContract } from './storage-contract.ts';

storageContract('in-memory (simulator and Node)', async (body) => {
  const backing = new MemoryBacking();
  body(() => new MemoryStorage(backing));
});
