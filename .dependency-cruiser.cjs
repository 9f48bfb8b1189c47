/**
 * The direction of Herald's imports, checked by `npm test` (npm run lint:deps). Folders are floors;
 * a folder may import from the floors below it, never from one above:
 *
 *   run/, cli.ts, workers/    entry points and the wiring of a process
 *   http/                     the Fastify app over the SDK
 *   sdk/                      the Herald class
 *   services/, stats/         operations above both the store and the queues (replay, statistics)
 *   delivery/                 the processor and the worker runtime
 *   queue/                    BullMQ queues and the enqueue transaction
 *   store/                    status records, recipients, dead letters, counters, Lua scripts
 *   config.ts, validate.ts,   the configuration (it assembles each channel's settings), input
 *   redis/                    validation, Redis connections
 *   channels/                 provider adapters
 *   the files at src/ itself  types, codes, errors, logging, schemas
 */
const floors = [
  { name: 'core', path: '^src/[^/]+\\.ts$', excluding: '^src/(cli|index|config|validate)\\.ts$' },
  { name: 'channels', path: '^src/channels/' },
  { name: 'settings', path: '^src/(config\\.ts|validate\\.ts|redis/)' },
  { name: 'store', path: '^src/store/' },
  { name: 'queue', path: '^src/queue/' },
  { name: 'delivery', path: '^src/delivery/' },
  { name: 'services', path: '^src/(services|stats)/' },
  { name: 'sdk', path: '^src/sdk/' },
  { name: 'http', path: '^src/http/' },
];
const entry = '^(src/run/|src/cli\\.ts$|src/index\\.ts$|workers/)';

/** A floor must not import any floor above it, nor the entry points. */
const upward = floors.map((floor, index) => ({
  name: `no-upward-from-${floor.name}`,
  comment: `src/${floor.name} imports only from the floors below it`,
  severity: 'error',
  from: { path: floor.path, ...(floor.excluding ? { pathNot: floor.excluding } : {}) },
  to: { path: [...floors.slice(index + 1).map((above) => above.path), entry] },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-circular',
      comment: 'Modules that import each other cannot be read, tested or moved one at a time',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'store-under-queue',
      comment: 'The store never drives the queues: what needs both is a service',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: ['bullmq'] },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // TypeScript 7 (the native compiler) has no JavaScript API to parse with; swc reads the
    // sources instead, type-only imports included.
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
