import { MasterKeySet } from '../codec/master-keys.js';
import type { MasterKeySource } from './env.js';

/**
 * Loads the master keys an environment named (`AGENTSTATE_MASTER_KEYS_FILE`
 * or `AGENTSTATE_MASTER_KEYS`); undefined = encryption off.
 * @throws ConfigError when the file is unreadable or a key malformed
 */
export async function loadMasterKeys(source: MasterKeySource | undefined): Promise<MasterKeySet | undefined> {
  if (source === undefined) return undefined;
  return 'file' in source ? MasterKeySet.fromFile(source.file) : MasterKeySet.parse(source.inline);
}
