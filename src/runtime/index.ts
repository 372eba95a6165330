export { RuntimeHost, type AgentContext, type AgentFactory, type RejectReason, type RuntimeAgent, type RuntimeHostOptions, type StartResult } from './host.js';
export { AvroRuntimeWire, JsonRuntimeWire, type RuntimeWire } from './wire.js';
export { CONTROL_COMMAND_TYPES, heartbeatKey, type ControlCommand, type ControlCommandType, type HostPlacement, type HostedAgent, type NodeHeartbeat } from './types.js';
export { sendCommand } from './control.js';
