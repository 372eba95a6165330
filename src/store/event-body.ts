import { canonicalJson, type StateEvent } from '../domain/index.js';
import { DecodeError } from '../errors.js';
import { storableString } from './state-fields.js';

/**
 * An event's canonical JSON in two parts, so a mirror row can keep the
 * changeset once (issue 11: the changeset is nearly all of a chat-window
 * event, and the row held it twice, as the query view and inside the body):
 * - `rest`: the canonical JSON of the event with `"changeset":[]`;
 * - `changes`: each change's path, op and values as canonical JSON text,
 *   exactly the mirror's query view (`eventData.changeset`, docs/store.md).
 *
 * {@link joinEventBody} puts them back together into the exact canonical JSON
 * of the event, by splicing the changes' text in place of `[]`: the first
 * `"changeset":[]` of `rest` is the event's own key, since canonical JSON
 * sorts keys and the only key before it (`causationId`) is a string or null,
 * in which a quote is always escaped. Each change is written as canonical
 * JSON writes an object of those keys (`newValue`, `oldBytes`, `oldValue`,
 * `op`, `path` in code-unit order).
 */
export interface EventBodyParts {
  rest: string;
  changes: ChangeText[];
}

/**
 * One change as the mirror's query view keeps it (the seed's names): `field`
 * is the path, `changeType` the op, the values canonical JSON text (absent
 * when the op has none), and `oldBytes` the size of an old value the writer
 * left out (src/domain/changeset.ts).
 */
export interface ChangeText {
  field: string;
  changeType: string;
  oldValue?: string;
  newValue?: string;
  oldBytes?: number;
}

const EMPTY_CHANGESET = '"changeset":[]';

/** The keys a change may have for its text to be rebuilt exactly (any other key keeps the whole body). */
const CHANGE_KEYS = new Set(['path', 'op', 'oldValue', 'newValue', 'oldBytes']);

/**
 * The parts of `event`'s canonical JSON, or undefined when the event is kept
 * whole: a claim-checked changeset (the body keeps the reference, not the
 * changes), a change with another key than path/op/oldValue/newValue/oldBytes
 * (or an `oldBytes` that is not a finite number), or a path or op that a store
 * might not keep exactly (a NUL or a lone surrogate).
 * @throws InvalidInputError when the event is not JSON (as canonicalJson)
 */
export function splitEventBody(event: StateEvent): EventBodyParts | undefined {
  if (event.changesetRef !== undefined || !Array.isArray(event.changeset)) return undefined;
  const changes: ChangeText[] = [];
  for (const c of event.changeset) {
    if (c === null || typeof c !== 'object' || typeof c.path !== 'string' || typeof c.op !== 'string') return undefined;
    for (const k of Object.keys(c)) if (!CHANGE_KEYS.has(k) && (c as unknown as Record<string, unknown>)[k] !== undefined) return undefined;
    if (!storableString(c.path) || !storableString(c.op)) return undefined;
    const t: ChangeText = { field: c.path, changeType: c.op };
    if (c.oldValue !== undefined) t.oldValue = canonicalJson(c.oldValue);
    if (c.newValue !== undefined) t.newValue = canonicalJson(c.newValue);
    if (c.oldBytes !== undefined) {
      if (typeof c.oldBytes !== 'number' || !Number.isFinite(c.oldBytes)) return undefined;
      t.oldBytes = c.oldBytes;
    }
    changes.push(t);
  }
  const rest = canonicalJson({ ...event, changeset: [] });
  if (!rest.includes(EMPTY_CHANGESET)) return undefined;
  return { rest, changes };
}

/** The canonical JSON of a change whose values are already canonical JSON text. */
function changeText(c: ChangeText): string {
  let s = '{';
  if (c.newValue !== undefined) s += `"newValue":${c.newValue},`;
  if (c.oldBytes !== undefined) s += `"oldBytes":${JSON.stringify(c.oldBytes)},`;
  if (c.oldValue !== undefined) s += `"oldValue":${c.oldValue},`;
  return `${s}"op":${JSON.stringify(c.changeType)},"path":${JSON.stringify(c.field)}}`;
}

/**
 * The event's canonical JSON from its parts (see {@link EventBodyParts}).
 * @throws DecodeError when `rest` holds no empty changeset (not made by {@link splitEventBody})
 */
export function joinEventBody(rest: string, changes: readonly ChangeText[]): string {
  const at = rest.indexOf(EMPTY_CHANGESET);
  if (at < 0) throw new DecodeError('stored event', 'its body rest holds no "changeset":[]');
  const end = at + EMPTY_CHANGESET.length - 1;
  return `${rest.slice(0, end)}${changes.map(changeText).join(',')}${rest.slice(end)}`;
}
