export { generateEvents } from './events.js';
export { SIZE_CLASSES, generateCorpus, generateState } from './generate.js';
export type { CorpusOptions, SizeClass } from './generate.js';
export { Random } from './random.js';
export { loadTextSources, proseSpan, technicalSpan } from './text.js';
export type { TextSources } from './text.js';
