import { presenceContract } from './contract';
import { MemoryPresenceStore } from './memory';

presenceContract('MemoryPresenceStore', async () => {
  const store = new MemoryPresenceStore();
  return { store, cleanup: () => store.close() };
});
