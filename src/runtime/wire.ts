import { loadSchema, valueSubject } from '../codec/schemas.js';
import type { RegistryCodec } from '../codec/registry.js';
import { DecodeError } from '../errors.js';
import type { AgentAccess } from '../telemetry/access.js';
import { CONTROL_COMMAND_TYPES, type ControlCommand, type HostedAgent, type NodeHeartbeat } from './types.js';

/**
 * Encodes and decodes heartbeats and control commands: Avro with the
 * registry framing on the servers profile (DESIGN.md Wire format), JSON of
 * the same record on the embedded one. Decoding checks the shape, so a
 * malformed record fails here with a reason (it then goes to the DLQ).
 */
export interface RuntimeWire {
  encodeHeartbeat(h: NodeHeartbeat): Promise<Buffer>;
  /** undefined for a per-agent client heartbeat (not a host's). @throws DecodeError */
  decodeHeartbeat(value: Buffer | null): Promise<NodeHeartbeat | undefined>;
  encodeCommand(c: ControlCommand): Promise<Buffer>;
  /** @throws DecodeError */
  decodeCommand(value: Buffer | null): Promise<ControlCommand>;
}

/** The Avro record of a host heartbeat (schemas/Heartbeat.avsc): the per-agent fields are empty. */
function heartbeatRecord(h: NodeHeartbeat): Record<string, unknown> {
  return {
    instanceId: '',
    writerEpoch: 0,
    nodeId: h.nodeId,
    timestamp: h.timestamp,
    sequence: h.sequence,
    status: h.status,
    lastVersion: 0,
    heapUsedBytes: h.heapUsedBytes,
    cpuPercent: null,
    metadata: { ...(h.role === 'access' ? { role: 'access' } : {}), ...(h.periodic === false ? { beat: 'extra' } : {}) },
    host: h.host,
    dataCenter: h.dataCenter,
    region: h.region,
    intervalMs: h.intervalMs,
    load: h.load,
    agents: h.agents,
    access: h.access ?? [],
  };
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const strOrNull = (v: unknown): string | null => (isStr(v) ? v : null);
const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.getTime() : (v as number));

function toHeartbeat(r: Record<string, unknown>): NodeHeartbeat | undefined {
  if (isStr(r.instanceId) && r.instanceId !== '') return undefined;
  const bad = (why: string): never => {
    throw new DecodeError('heartbeat', why);
  };
  if (!isStr(r.nodeId) || r.nodeId === '') bad('nodeId is missing');
  const ts = num(r.timestamp);
  if (!isNum(ts) || ts <= 0) bad('timestamp is missing');
  if (r.status !== 'running' && r.status !== 'stopping') bad(`status "${String(r.status)}" is not running or stopping`);
  if (!Array.isArray(r.agents)) bad('agents is not a list');
  const agents: HostedAgent[] = (r.agents as Record<string, unknown>[]).map((a) => {
    const version = num(a?.version);
    const writerEpoch = num(a?.writerEpoch);
    if (!isStr(a?.instanceId) || !isNum(version) || !isNum(writerEpoch)) return bad('an agent entry lacks instanceId, version or writerEpoch');
    const state = a.state === 'frozen' || a.state === 'stopping' ? a.state : 'running';
    return { instanceId: a.instanceId, version, writerEpoch, state };
  });
  const access: AgentAccess[] = (Array.isArray(r.access) ? (r.access as Record<string, unknown>[]) : []).map((a) => {
    const f = (k: keyof AgentAccess): number => {
      const v = num(a?.[k]);
      return isNum(v) && v >= 0 ? v : bad(`access entry ${String(a?.instanceId)}: ${k} is not a non-negative number`);
    };
    if (!isStr(a?.instanceId) || a.instanceId === '') return bad('an access entry lacks instanceId');
    return { instanceId: a.instanceId, reads: f('reads'), readMsTotal: f('readMsTotal'), cacheHits: f('cacheHits'), cacheMisses: f('cacheMisses'), writes: f('writes'), writeMsTotal: f('writeMsTotal') };
  });
  return {
    nodeId: r.nodeId as string,
    host: strOrNull(r.host),
    dataCenter: strOrNull(r.dataCenter),
    region: strOrNull(r.region),
    timestamp: ts,
    sequence: num(r.sequence) || 0,
    status: r.status as NodeHeartbeat['status'],
    intervalMs: num(r.intervalMs) || 0,
    periodic: (r.metadata as Record<string, unknown> | null | undefined)?.beat !== 'extra',
    load: num(r.load) || 0,
    heapUsedBytes: r.heapUsedBytes == null ? null : num(r.heapUsedBytes),
    agents,
    access,
    ...((r.metadata as Record<string, unknown> | null | undefined)?.role === 'access' ? { role: 'access' as const } : {}),
  };
}

function toCommand(r: Record<string, unknown>): ControlCommand {
  const bad = (why: string): never => {
    throw new DecodeError('control command', why);
  };
  if (!isStr(r.commandId) || r.commandId === '') bad('commandId is missing');
  if (!isStr(r.instanceId) || r.instanceId === '') bad('instanceId is missing');
  if (!CONTROL_COMMAND_TYPES.includes(r.commandType as ControlCommand['commandType'])) bad(`commandType "${String(r.commandType)}" is unknown`);
  const issuedAt = num(r.issuedAt);
  if (!isNum(issuedAt)) bad('issuedAt is missing');
  const params = r.parameters && typeof r.parameters === 'object' ? (r.parameters as Record<string, string>) : {};
  return {
    commandId: r.commandId as string,
    instanceId: r.instanceId as string,
    commandType: r.commandType as ControlCommand['commandType'],
    issuedAt,
    issuedBy: isStr(r.issuedBy) ? r.issuedBy : '',
    recoveryStrategy: (strOrNull(r.recoveryStrategy) as ControlCommand['recoveryStrategy']) ?? null,
    recoveryTarget: (strOrNull(r.recoveryTarget) as ControlCommand['recoveryTarget']) ?? null,
    targetVersion: r.targetVersion == null ? null : num(r.targetVersion),
    sourceNode: strOrNull(r.sourceNode),
    targetNode: strOrNull(r.targetNode),
    attempt: isNum(num(r.attempt)) ? num(r.attempt) : 1,
    deadline: r.deadline == null ? null : num(r.deadline),
    correlationId: strOrNull(r.correlationId),
    parameters: { ...params },
  };
}

function parseJson(what: string, value: Buffer | null): Record<string, unknown> {
  if (value === null) throw new DecodeError(what, 'the value is empty (a tombstone)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (e) {
    throw new DecodeError(what, `not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DecodeError(what, 'not a JSON object');
  return parsed as Record<string, unknown>;
}

/** JSON records (the embedded profile, and servers without a registry). */
export class JsonRuntimeWire implements RuntimeWire {
  async encodeHeartbeat(h: NodeHeartbeat): Promise<Buffer> {
    return Buffer.from(JSON.stringify(heartbeatRecord(h)));
  }
  async decodeHeartbeat(value: Buffer | null): Promise<NodeHeartbeat | undefined> {
    return toHeartbeat(parseJson('heartbeat', value));
  }
  async encodeCommand(c: ControlCommand): Promise<Buffer> {
    return Buffer.from(JSON.stringify(c));
  }
  async decodeCommand(value: Buffer | null): Promise<ControlCommand> {
    return toCommand(parseJson('control command', value));
  }
}

/** Avro with the Confluent framing; subjects `<topic>-value` under BACKWARD compatibility. */
export class AvroRuntimeWire implements RuntimeWire {
  private heartbeatId: Promise<number> | undefined;
  private commandId: Promise<number> | undefined;

  constructor(
    private readonly registry: RegistryCodec,
    private readonly topics: { heartbeats: string; control: string },
  ) {}

  async encodeHeartbeat(h: NodeHeartbeat): Promise<Buffer> {
    this.heartbeatId ??= this.registry.register(valueSubject(this.topics.heartbeats), loadSchema('Heartbeat'), { compatibility: 'BACKWARD' });
    return this.registry.encode(await this.heartbeatId, heartbeatRecord(h));
  }
  async decodeHeartbeat(value: Buffer | null): Promise<NodeHeartbeat | undefined> {
    if (value === null) throw new DecodeError('heartbeat', 'the value is empty (a tombstone)');
    return toHeartbeat(await this.registry.decode<Record<string, unknown>>(value));
  }
  async encodeCommand(c: ControlCommand): Promise<Buffer> {
    this.commandId ??= this.registry.register(valueSubject(this.topics.control), loadSchema('ControlCommand'), { compatibility: 'BACKWARD' });
    return this.registry.encode(await this.commandId, c);
  }
  async decodeCommand(value: Buffer | null): Promise<ControlCommand> {
    if (value === null) throw new DecodeError('control command', 'the value is empty (a tombstone)');
    return toCommand(await this.registry.decode<Record<string, unknown>>(value));
  }
}
