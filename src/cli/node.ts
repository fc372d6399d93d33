// `pygmy node --config cluster.json --node NAME`: this host's part of a multi-host cluster.
//
// Flags: --config FILE (required), --node NAME (required), --data-dir (./data/NAME), --fresh (wipe the data dir;
// refused on one that holds members of a bootstrapped cluster unless --start-new-cluster is given too), --listen-host
// (bind address for the transport, default the node's configured host), --ready-timeout-ms (60000), --admin on|off
// (off turns the gateway's operations routes off; /health and /ready stay), --order-deadline-ms (30000; give every
// node the same value), --ops-port PORT (on a gateway node: an operations listener on the gateway's host, see
// pygmy start).
// Prints `pygmy: node NAME listening on HOST:PORT` once the transport listens and its actors started, and on a
// gateway node `pygmy: ready at URL (started in N ms)` once both groups have a leader. SIGINT and SIGTERM stop
// it gracefully; an escalation of its supervisor exits non-zero. The cluster secret comes from
// PYGMY_CLUSTER_SECRET or the config's secretFile; without one the node only listens on loopback.
import { parseArgs } from 'node:util';
import { createLogger } from './logger.js';
import { isLoopback } from '../runtime/transport/node-transport.js';
import { clusterSecret, DataDirInUseError, readLayout, startNode } from './multihost.js';
import { UsageError } from './usage-error.js';
import { adminMode, escalationStop, integerFlag, logFormatOptions, portFlag } from './serve.js';

/** The transport's rules on the secret, checked here first so that a mistake is one line, not a stack trace. */
function checkSecret(secret: Buffer | null, listenHost: string): void {
  if (secret !== null && secret.length < 16) {
    throw new UsageError(`the cluster secret (PYGMY_CLUSTER_SECRET or the config's secretFile) must be at least 16 bytes, got ${secret.length}`);
  }
  if (secret === null && !isLoopback(listenHost)) {
    throw new UsageError(`refusing to listen on ${listenHost} without a cluster secret (set PYGMY_CLUSTER_SECRET or the config's secretFile)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      node: { type: 'string' },
      'data-dir': { type: 'string' },
      fresh: { type: 'boolean' },
      'start-new-cluster': { type: 'boolean' },
      'listen-host': { type: 'string' },
      'ready-timeout-ms': { type: 'string' },
      admin: { type: 'string' },
      'order-deadline-ms': { type: 'string' },
      'ops-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help || values.config === undefined || values.node === undefined) {
    console.log('usage: pygmy node --config cluster.json --node NAME [--data-dir ./data/NAME] [--fresh [--start-new-cluster]] [--listen-host ADDRESS] [--admin on|off] [--order-deadline-ms MS] [--ops-port PORT]');
    return values.help ? 0 : 1;
  }
  const admin = adminMode(values.admin);
  const startedAt = Date.now();
  let layout;
  try {
    layout = readLayout(values.config);
  } catch (error) {
    throw new UsageError(`--config ${values.config}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const readyTimeoutMs = integerFlag(values['ready-timeout-ms'], '--ready-timeout-ms', 60_000);
  if (values['start-new-cluster'] === true && values.fresh !== true) {
    throw new UsageError('--start-new-cluster only goes with --fresh');
  }
  const orderDeadlineMs = integerFlag(values['order-deadline-ms'], '--order-deadline-ms', 30_000, 100);
  const logger = createLogger(logFormatOptions());
  const secret = clusterSecret(layout, process.env);
  checkSecret(secret, values['listen-host'] ?? layout.nodes.find((candidate) => candidate.name === values.node)?.host ?? '127.0.0.1');
  const escalation = escalationStop(logger);
  let node;
  try {
    node = await startNode({
      layout,
      configFile: values.config,
      node: values.node,
      dataDir: values['data-dir'] ?? `./data/${values.node}`,
      fresh: values.fresh ?? false,
      startNewCluster: values['start-new-cluster'] ?? false,
      secret,
      logger,
      adminToken: process.env.PYGMY_ADMIN_TOKEN ?? null,
      admin,
      orderDeadlineMs,
      ...(values['ops-port'] === undefined ? {} : { operationsPort: portFlag(values['ops-port'], '--ops-port') }),
      ...(values['listen-host'] === undefined ? {} : { listenHost: values['listen-host'] }),
      onEscalate: escalation.onEscalate,
    });
  } catch (error) {
    if (!(error instanceof DataDirInUseError)) throw error;
    console.error(`pygmy node: ${error.message}`);
    return 1;
  }
  const self = layout.nodes.find((candidate) => candidate.name === values.node)!;
  console.log(`pygmy: node ${self.name} listening on ${self.host}:${self.port}`);
  const serving = escalation.serve(async () => {
    logger.info({ event: 'shutdown' }, `pygmy: stopping node ${self.name}`);
    await node.close();
  });
  if (node.url !== null) {
    void node.ready(readyTimeoutMs).then((ready) => {
      if (serving.stopping) return;
      if (ready) console.log(`pygmy: ready at ${node.url} (started in ${Date.now() - startedAt} ms)`);
      else logger.warn({ readyTimeoutMs }, `pygmy: no leader for both groups within ${readyTimeoutMs} ms; still trying (GET /ready says when)`);
    });
  }
  return serving.exited;
}
