import { randomUUID } from 'node:crypto';
import type { EventLog } from '../log/port.js';
import type { ControlCommand } from './types.js';
import type { RuntimeWire } from './wire.js';

/**
 * Appends a command for one host to the control topic, keyed by instanceId
 * (one agent's commands stay in order) with the target in a header too, so
 * a reader can route a record it cannot decode.
 */
export async function sendCommand(
  log: EventLog,
  wire: RuntimeWire,
  controlTopic: string,
  command: Pick<ControlCommand, 'instanceId' | 'commandType' | 'targetNode' | 'issuedBy'> & Partial<ControlCommand>,
): Promise<ControlCommand> {
  const full: ControlCommand = {
    commandId: randomUUID(),
    issuedAt: Date.now(),
    recoveryStrategy: null,
    recoveryTarget: null,
    targetVersion: null,
    sourceNode: null,
    attempt: 1,
    deadline: null,
    correlationId: null,
    parameters: {},
    ...command,
  };
  await log.append(controlTopic, [{ key: full.instanceId, value: await wire.encodeCommand(full), headers: { targetNode: full.targetNode ?? '', commandType: full.commandType } }]);
  return full;
}
