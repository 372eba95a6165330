import { InMemoryDataKeyStore } from '../../../src/store/data-keys.js';
import { dataKeyContract } from './suite.js';

// Keeps nothing across instances, so the restart test does not apply.
dataKeyContract('InMemoryDataKeyStore', async () => ({ open: async () => ({ store: new InMemoryDataKeyStore() }) }), { durable: false });
