import type { ChatState, ChatUpdate } from './workload.js';

/**
 * One system of the peers benchmark, opened fresh for each cell (its own
 * database, topic prefix or file) so the bytes it stores are the cell's.
 */
export interface PeerSystem {
  name: string;
  /** When a write returns, what survives: printed under the table. */
  durability: string;
  /** Creates the agents' initial states (not timed). */
  seed(agents: number, initial: (agent: number) => ChatState): Promise<void>;
  /** One update of one agent; `next` is the state after it (for systems that store whole states). */
  write(agent: number, update: ChatUpdate, next: ChatState): Promise<void>;
  /** Waits until reads see every acknowledged write (agentstate: the projector has caught up). */
  settle?(): Promise<void>;
  /** The latest state of an agent; absent for a system without reads (raw Kafka). */
  read?(agent: number): Promise<ChatState | undefined>;
  /** Verifies what a system without reads stored (e.g. the record count), or undefined when it holds. */
  verifyStored?(writes: number): Promise<string | undefined>;
  /** Bytes this cell's data takes now (files, segments, relations). */
  storedBytes(): Promise<number>;
  close(): Promise<void>;
}

/** Opens a fresh instance of a system for one cell. */
export type PeerFactory = (cell: string) => Promise<PeerSystem>;
