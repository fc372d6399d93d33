// Multi-host test support: the probe node, a node without actors in the test process that speaks the transport
// (to ask one replica directly, as another node of the cluster would). Node processes, layouts and namespace
// hosts live in src/check (the checker's --multihost mode uses them too) and are re-exported here.
import { createServer } from 'node:net';
import pino from 'pino';
import { ActorSystem } from '../../src/runtime/system.js';
import { NodeTransport, type NodeAddress, type TlsFiles } from '../../src/runtime/transport/node-transport.js';

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

/**
 * A node without actors, in the test process: asks any actor of the cluster directly over the transport (over
 * TLS when `tls` names its files).
 */
export async function startProbe(name: string, nodes: readonly NodeAddress[], secret: Buffer, tls?: TlsFiles): Promise<Probe> {
  const log = pino({ level: 'silent' });
  const transport = new NodeTransport({ self: name, nodes, secret, log, ...(tls === undefined ? {} : { tls }) });
  const system = new ActorSystem({ logger: log, remote: transport });
  transport.attachSystem(system);
  await transport.listen();
  return {
    system,
    transport,
    async close() {
      await system.shutdown();
      await transport.close();
    },
  };
}
