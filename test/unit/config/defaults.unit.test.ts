import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ARCHIVER_OPTIONS, DEFAULT_REPUBLISH_OPTIONS, resolveArchiverOptions, type ArchiverOptions } from '../../../src/backup/options.js';
import { DEFAULT_AVRO_GUARD_LIMITS } from '../../../src/codec/avro-guard.js';
import { DEFAULT_BODY_OPTIONS } from '../../../src/codec/state-body.js';
import { DEFAULTS } from '../../../src/config/env.js';
import { DEFAULT_TOPIC_PREFIX } from '../../../src/log/topics.js';
import { resolveProjectorOptions, type ProjectorOptions } from '../../../src/projector/options.js';
import { DEFAULT_SNAPSHOT_POLICY } from '../../../src/snapshots/snapshotter.js';
import { DEFAULT_STATE_FIELDS_OPTIONS } from '../../../src/store/state-fields.js';
import { DEFAULT_ANALYTICS_CONSUMER_OPTIONS, DEFAULT_ANALYTICS_SERVICE_OPTIONS, DEFAULT_THRESHOLDS } from '../../../src/analytics/options.js';
import { DEFAULT_PHI_OPTIONS, resolvePhiOptions } from '../../../src/recovery/phi.js';
import { DEFAULT_RECOVERY_ENGINE_OPTIONS } from '../../../src/recovery/engine.js';
import { DEFAULT_RECOVERY_SERVICE_OPTIONS } from '../../../src/recovery/service.js';

/**
 * STYLE.md habit 5 and 11, issue 13: a default is applied in one place (a
 * defaults object, or the one resolve function at the boundary) and the
 * JSDoc `@default` a user reads says the same. This reads the `@default` tags
 * from the source with the TypeScript parser and compares them with the
 * values the code applies.
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** `@default` text of each member of interface `name` in `file`. */
function documentedDefaults(file: string, name: string): Map<string, string> {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const out = new Map<string, string>();
  let found = false;
  const visit = (node: ts.Node): void => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === name) {
      found = true;
      for (const member of node.members) {
        if (!member.name || !ts.isIdentifier(member.name)) continue;
        for (const tag of ts.getJSDocTags(member)) {
          if (tag.tagName.text !== 'default') continue;
          out.set(member.name.text, ts.getTextOfJSDocComment(tag.comment)?.trim() ?? '');
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!found) throw new Error(`no interface ${name} in ${file}`);
  return out;
}

/**
 * The value a `@default` text names when it is a literal: the whole text, or a
 * literal followed by an explanation in parentheses (`15000 (AGENTSTATE_...)`).
 * A description (`8 MiB`, `<prefix>backup`, `os.hostname()`) gives undefined.
 */
function literal(text: string): { value: unknown } | undefined {
  const m = /^('(?:[^'\\]|\\.)*'|-?[0-9][0-9_]*(?:\.[0-9]+)?|null|true|false)(?:\s+\(.*\))?$/s.exec(text);
  if (!m) return undefined;
  const token = m[1]!;
  if (token.startsWith("'")) return { value: token.slice(1, -1) };
  if (token === 'null') return { value: null };
  if (token === 'true' || token === 'false') return { value: token === 'true' };
  return { value: Number(token.replace(/_/g, '')) };
}

interface Case {
  file: string;
  iface: string;
  /** What the code applies when the field is not given. */
  applied: Record<string, unknown>;
  /** Every key of `applied` must be documented with a literal `@default` (a defaults object); else only the documented ones are compared. */
  strict: boolean;
}

const stub = {} as never;
const CASES: Case[] = [
  { file: 'src/codec/avro-guard.ts', iface: 'AvroGuardLimits', applied: { ...DEFAULT_AVRO_GUARD_LIMITS }, strict: true },
  { file: 'src/codec/state-body.ts', iface: 'BodyOptions', applied: { ...DEFAULT_BODY_OPTIONS }, strict: true },
  { file: 'src/snapshots/snapshotter.ts', iface: 'SnapshotPolicy', applied: { ...DEFAULT_SNAPSHOT_POLICY }, strict: true },
  { file: 'src/store/state-fields.ts', iface: 'StateFieldsOptions', applied: { ...DEFAULT_STATE_FIELDS_OPTIONS }, strict: true },
  { file: 'src/analytics/options.ts', iface: 'DetectorThresholds', applied: { ...DEFAULT_THRESHOLDS }, strict: true },
  { file: 'src/config/env.ts', iface: 'EnvConfig', applied: { topicPrefix: DEFAULTS.topicPrefix, connectTimeoutMs: DEFAULTS.connectTimeoutMs }, strict: true },
  { file: 'src/config/env.ts', iface: 'MongoSettings', applied: { database: DEFAULTS.mongoDatabase }, strict: true },
  {
    file: 'src/projector/options.ts',
    iface: 'ProjectorOptions',
    applied: { ...resolveProjectorOptions({ log: stub, codec: stub, store: stub, blobs: stub } as ProjectorOptions) },
    strict: false,
  },
  { file: 'src/backup/options.ts', iface: 'ArchiverOptions', applied: { ...resolveArchiverOptions({ log: stub, blobs: stub, codec: stub } as ArchiverOptions) }, strict: false },
  { file: 'src/backup/options.ts', iface: 'ArchiverOptions', applied: { ...DEFAULT_ARCHIVER_OPTIONS }, strict: true },
  { file: 'src/backup/restore.ts', iface: 'RepublishOptions', applied: { ...DEFAULT_REPUBLISH_OPTIONS }, strict: true },
  { file: 'src/analytics/consumer.ts', iface: 'AnalyticsConsumerOptions', applied: { ...DEFAULT_ANALYTICS_CONSUMER_OPTIONS }, strict: true },
  { file: 'src/analytics/service.ts', iface: 'AnalyticsServiceOptions', applied: { window: DEFAULT_ANALYTICS_SERVICE_OPTIONS.window }, strict: true },
  { file: 'src/recovery/phi.ts', iface: 'PhiOptions', applied: { ...DEFAULT_PHI_OPTIONS }, strict: true },
  { file: 'src/recovery/phi.ts', iface: 'PhiOptions', applied: { ...resolvePhiOptions() }, strict: true },
  { file: 'src/recovery/engine.ts', iface: 'RecoveryEngineOptions', applied: { ...DEFAULT_RECOVERY_ENGINE_OPTIONS }, strict: true },
  { file: 'src/recovery/service.ts', iface: 'RecoveryServiceOptions', applied: { ...DEFAULT_RECOVERY_SERVICE_OPTIONS }, strict: true },
];

describe('defaults: the JSDoc @default says what the code applies', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${c.iface} (${c.file}) #${i}`, () => {
      const documented = documentedDefaults(c.file, c.iface);
      let compared = 0;
      for (const [field, text] of documented) {
        const lit = literal(text);
        if (!lit || !(field in c.applied)) continue;
        expect(lit.value, `${c.iface}.${field}: @default ${text}`).toEqual(c.applied[field]);
        compared++;
      }
      if (c.strict) {
        for (const field of Object.keys(c.applied)) {
          expect(literal(documented.get(field) ?? ''), `${c.iface}.${field} has no literal @default (the defaults object applies ${JSON.stringify(c.applied[field])})`).toBeDefined();
        }
      }
      expect(compared, 'nothing compared: the case reads the wrong interface').toBeGreaterThan(0);
    });
  }

  it(`every topicPrefix documents the one DEFAULT_TOPIC_PREFIX (${DEFAULT_TOPIC_PREFIX})`, () => {
    expect(literal(documentedDefaults('src/log/topics.ts', 'TopicLayoutOptions').get('prefix') ?? '')?.value).toBe(DEFAULT_TOPIC_PREFIX);
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.ts')) files.push(join(dir, e.name));
      }
    };
    walk('src');
    let seen = 0;
    for (const file of files) {
      const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isPropertySignature(node) && ts.isIdentifier(node.name) && node.name.text === 'topicPrefix') {
          for (const tag of ts.getJSDocTags(node)) {
            if (tag.tagName.text !== 'default') continue;
            const text = ts.getTextOfJSDocComment(tag.comment)?.trim() ?? '';
            // A literal, or a sentence naming it in quotes (`AGENTSTATE_TOPIC_PREFIX or 'agentstate.'`).
            const named = literal(text)?.value ?? /'([^']*)'/.exec(text)?.[1];
            expect(named, `${file}: topicPrefix @default ${text}`).toBe(DEFAULT_TOPIC_PREFIX);
            seen++;
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(seen).toBeGreaterThan(5);
  });
});
