import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Random } from './random.js';

/**
 * Real documents the corpus draws its natural language from (see
 * corpus/README.md): a novel and a treatise for prose, three
 * chapters of the Node.js docs for technical prose with code. Filler text would make
 * every compression ratio meaningless.
 */
export interface TextSources {
  /** Sentences of narrative prose, in document order. */
  prose: string[];
  /** Paragraphs and code blocks of technical documentation, in document order. */
  technical: string[];
  /** Distinct words, for queries and names. */
  words: string[];
}

function textDir(explicit?: string): string {
  if (explicit !== undefined) {
    if (!existsSync(join(explicit, 'tom-sawyer.txt'))) throw new ConfigError('corpus', `${explicit} does not hold the corpus text`);
    return explicit;
  }
  // src/corpus in a checkout, dist/src/corpus in the package: the text is in
  // `corpus/` at the package root either way (package.json `files` ships it).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'corpus');
    if (existsSync(join(candidate, 'tom-sawyer.txt'))) return candidate;
    dir = dirname(dir);
  }
  throw new ConfigError('corpus', 'cannot find corpus/ at the package root (the demo corpus text ships with the package)');
}

let cached: TextSources | undefined;

/**
 * Loads and splits the corpus text (once per process). They are found by
 * walking up to `corpus/` at the package root (a checkout or the installed
 * package); pass `dir` to use a copy elsewhere.
 * @throws ConfigError when the text cannot be found
 */
export function loadTextSources(dir?: string): TextSources {
  if (cached) return cached;
  dir = textDir(dir);
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const novel = [read('tom-sawyer.txt'), read('newton-opticks.txt')].join('\n\n');
  const docs = ['node-stream-docs.md', 'node-fs-docs.md', 'node-crypto-docs.md'].map(read).join('\n\n');
  const prose = novel
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.length > 0 && !/^CHAPTER/.test(p))
    .flatMap((p) => p.split(/(?<=[.!?]["']?)\s+(?=["A-Z])/))
    .filter((s) => s.length > 1);
  const technical = docs
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 20);
  const words = [...new Set(novel.toLowerCase().match(/[a-z]{4,}/g) ?? [])];
  cached = { prose, technical, words };
  return cached;
}

/**
 * `count` consecutive sentences from a random place: coherent text, as an
 * agent would hold. `maxChars` cuts at a word boundary (Newton's sentences
 * run to a thousand characters, too long for the smallest states).
 */
export function proseSpan(text: TextSources, rnd: Random, count: number, maxChars = Infinity): string {
  const start = rnd.int(0, Math.max(0, text.prose.length - count));
  const span = text.prose.slice(start, start + count).join(' ');
  if (span.length <= maxChars) return span;
  const cut = span.lastIndexOf(' ', maxChars);
  return span.slice(0, cut > 0 ? cut : maxChars);
}

/** `count` consecutive documentation paragraphs from a random place. */
export function technicalSpan(text: TextSources, rnd: Random, count: number): string {
  const start = rnd.int(0, Math.max(0, text.technical.length - count));
  return text.technical.slice(start, start + count).join('\n\n');
}
