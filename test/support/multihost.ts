// Multi-host test support: the probe node, a node without actors in the test process that speaks the transport
// (to ask one replica directly, as another node of the cluster would), and loopback nodes that run the counter
// fixture for the transport tests. Node processes, layouts and namespace hosts live in src/check (the checker's
// --multihost mode uses them too) and are re-exported here.
import { createServer } from 'node:net';
import pino from 'pino';
import { ActorSystem } from '../../src/runtime/system.js';
import { NodeTransport, type NodeAddress, type NodeTransportOptions, type TlsFiles } from '../../src/runtime/transport/node-transport.js';
import { counterModule } from '../runtime/helpers.js';

export { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
export { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';

export interface Probe {
  readonly system: ActorSystem;
  readonly transport: NodeTransport;
  close(): Promise<void>;
}

/** A free TCP port on loopback (free when asked; a test binds it soon after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TransportNode {
  readonly system: ActorSystem;
  readonly transport: NodeTransport;
}

export interface TransportNodeOptions {
  readonly tls?: TlsFiles;
  readonly limits?: NodeTransportOptions['limits'];
  /** What the node does when asked to spawn an actor; without it, a spawn request is refused. */
  readonly spawn?: (system: ActorSystem, name: string) => Promise<void>;
}

/** An actor system in the test process behind a listening NodeTransport named `self`, silent, with no actors yet. */
async function startTransportNode(self: string, nodes: readonly NodeAddress[], secret: Buffer, options: TransportNodeOptions = {}): Promise<TransportNode> {
  const log = pino({ level: 'silent' });
  const { tls, limits, spawn } = options;
  let system: ActorSystem | null = null;
  const transport = new NodeTransport({
    self, nodes, secret, log,
    ...(tls === undefined ? {} : { tls }),
    ...(limits === undefined ? {} : { limits }),
    ...(spawn === undefined ? {} : { spawn: (name: string) => spawn(system!, name) }),
  });
  system = new ActorSystem({ logger: log, remote: transport });
  transport.attachSystem(system);
  await transport.listen();
  return { system, transport };
}

/** A loopback node for the transport tests: listens as `self` and runs the counter fixture as each of its actors in `nodes`. */
export async function startCounterNode(self: string, nodes: readonly NodeAddress[], secret: Buffer, options: TransportNodeOptions = {}): Promise<TransportNode> {
  const node = await startTransportNode(self, nodes, secret, options);
  const actors = nodes.find((address) => address.name === self)!.actors;
  await node.system.start(actors.map((name) => ({ name, module: counterModule, args: {} })));
  return node;
}

/**
 * A node without actors, in the test process: asks any actor of the cluster directly over the transport (over
 * TLS when `tls` names its files).
 */
export async function startProbe(name: string, nodes: readonly NodeAddress[], secret: Buffer, tls?: TlsFiles): Promise<Probe> {
  const { system, transport } = await startTransportNode(name, nodes, secret, tls === undefined ? {} : { tls });
  return {
    system,
    transport,
    async close() {
      await system.shutdown();
      await transport.close();
    },
  };
}
