// `pygmy start`: the whole cluster in one process — the demo, and what the end-to-end tests run.
//
// Flags: --port (34800; 0 picks a free one), --host (127.0.0.1), --data-dir (./data), --fresh (wipe the data dir
// first), --catalog FILE.json, --no-cache, --tick-ms, --order-deadline-ms (30000: a pending order is then fenced
// and rejected "timeout"), --hold-after-deduct-ms and --bug reject-without-fence (test hooks), --max-restarts N and
// --restart-window-ms MS (supervisor intensity; the fault checker raises it because it kills replicas on purpose),
// --admin on|off (off turns the operations routes off; /health and /ready stay), --replicas N (replicas in each
// group, odd, 1–7, default 3; a data dir keeps the size it was started with), --ops-port PORT (an operations
// listener beside the client port: /health, /ready, /metrics and the admin routes on their own port, which a
// client flood cannot starve; 0 picks a free one; off by default).
// Prints `pygmy: ready at URL (started in N ms)` on standard output when it can serve. SIGINT and SIGTERM stop
// it gracefully (gateway closed, leaders hand over, databases closed); a second start on the same data dir
// continues where it stopped. An escalation of the supervisor exits non-zero with the reason.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseCatalog, type Catalog } from '../actors/catalog/catalog.js';
import { replicasDefault, replicasProblem, startCluster } from '../cluster/cluster.js';
import { createLogger, demoLogLevel } from './logger.js';
import { UsageError } from './usage-error.js';
import { adminMode, escalationStop, integerFlag, logFormatOptions, portFlag } from './serve.js';

function readCatalog(path: string): Catalog {
  try {
    return parseCatalog(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new UsageError(`--catalog ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `--bug NAME`: a planted bug the checker must find; only reject-without-fence exists. */
function plantedBug(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value !== 'reject-without-fence') throw new UsageError(`--bug must be reject-without-fence, got "${value}"`);
  return true;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      fresh: { type: 'boolean' },
      catalog: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'tick-ms': { type: 'string' },
      'hold-after-deduct-ms': { type: 'string' },
      'order-deadline-ms': { type: 'string' },
      bug: { type: 'string' },
      'max-restarts': { type: 'string' },
      'restart-window-ms': { type: 'string' },
      admin: { type: 'string' },
      replicas: { type: 'string' },
      'ops-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: pygmy start [--port 34800] [--host 127.0.0.1] [--data-dir ./data] [--fresh] [--catalog FILE.json] [--no-cache] [--admin on|off] [--order-deadline-ms 30000] [--tick-ms 50] [--replicas 3] [--ops-port PORT] [--max-restarts N --restart-window-ms MS]');
    return 0;
  }
  const admin = adminMode(values.admin);
  const replicas = integerFlag(values.replicas, '--replicas', replicasDefault);
  const replicasWrong = replicasProblem(replicas);
  if (replicasWrong !== null) throw new UsageError(`--${replicasWrong}`);
  // The demo tells its story request by request (debug) unless LOG_LEVEL says otherwise.
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? demoLogLevel, ...logFormatOptions() });
  const catalog = values.catalog === undefined ? undefined : readCatalog(values.catalog);
  const escalation = escalationStop(logger);
  const cluster = await startCluster({
    host: values.host ?? '127.0.0.1',
    port: integerFlag(values.port, '--port', 34800, 0),
    dataDir: values['data-dir'] ?? './data',
    fresh: values.fresh ?? false,
    ...(catalog ? { catalog } : {}),
    logger,
    adminToken: process.env.PYGMY_ADMIN_TOKEN ?? null,
    admin,
    replicas,
    ...(values['ops-port'] === undefined ? {} : { operationsPort: portFlag(values['ops-port'], '--ops-port') }),
    cacheEnabled: !values['no-cache'],
    tickMs: integerFlag(values['tick-ms'], '--tick-ms', 50, 5),
    holdAfterDeductMs: integerFlag(values['hold-after-deduct-ms'], '--hold-after-deduct-ms', 0, 0),
    orderDeadlineMs: integerFlag(values['order-deadline-ms'], '--order-deadline-ms', 30_000, 100),
    orderBugRejectWithoutFence: plantedBug(values.bug),
    ...(values['max-restarts'] === undefined ? {} : { maxRestarts: integerFlag(values['max-restarts'], '--max-restarts', 5) }),
    ...(values['restart-window-ms'] === undefined ? {} : { restartWindowMs: integerFlag(values['restart-window-ms'], '--restart-window-ms', 60_000) }),
    onEscalate: escalation.onEscalate,
  });
  console.log(`pygmy: ready at ${cluster.url} (started in ${cluster.startedInMs} ms)`);
  if (cluster.operationsUrl !== null) console.log(`pygmy: operations at ${cluster.operationsUrl}`);
  const serving = escalation.serve(async () => {
    logger.info({ event: 'shutdown' }, 'pygmy: stopping (gateway, then order, then catalog replicas)');
    await cluster.close();
    logger.info({ event: 'shutdown' }, 'pygmy: stopped');
  });
  return serving.exited;
}

