// Lint gates (STYLE.md habit 7, issue 13): type-aware promise rules, type-only
// imports, no import cycles, and the layer boundaries of DESIGN.md "Where the
// code goes". Run by `npm test` (through `npm run lint`). An inline disable needs
// its reason on the same line.
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Adapters: only composition roots (services, the CLI, the SDK entry) and the adapters themselves import them. */
const ADAPTERS = ['**/log/kafka/**', '**/log/sqlite/**', '**/store/mongo/**', '**/store/sqlite/**', '**/blob/s3.js', '**/blob/fs.js', '**/cache/redis.js', '**/cache/memory.js'];
/** What the pure domain may never import. */
const IO = ['node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', 'kafkajs', 'mongodb', 'ioredis', 'better-sqlite3', '@aws-sdk/*', 'pino'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js', 'vitest.config.ts'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    // The sources import `./x.js` for `./x.ts` (NodeNext): without the alias no import resolves and no-cycle sees no edge at all.
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Cycles are among our modules: the packages under node_modules cannot import them back, so they are not walked.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: [...IO, '../*', '../*/**', '!../errors.js'], message: 'src/domain is pure: no I/O and nothing outside the domain but the error base (STYLE.md habit 1)' }] },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: [
      'src/domain/**',
      'src/cli/**',
      'src/sdk/**',
      'src/index.ts',
      'src/embedded.ts',
      'src/servers.ts',
      'src/backup/restore-embedded.ts' /* builds the restore target's data dir: a composition root */,
      'src/log/kafka/**',
      'src/log/sqlite/**',
      'src/store/mongo/**',
      'src/store/sqlite/**',
      'src/blob/**',
      'src/cache/**',
    ],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ADAPTERS, message: 'adapters are imported only by composition roots (services, CLI, SDK entry): depend on the port' }] }],
    },
  },
);
