// Multi-host test support: the probe node, a node without actors in the test process that speaks the transport
// (to ask one replica directly, as another node of the cluster would). Node processes, layouts and namespace
// hosts live in src/check (the checker's --multihost mode uses them too) and are re-exported here.
import pino from 'pino';
import { ActorSystem } from '../../src/runtime/system.js';
import { NodeTransport, type NodeAddress } from '../../src/runtime/transport/node-transport.js';

export { createTestHosts, namespaceUnavailableReason, type TestHosts } from '../../src/check/hosts.js';
export { makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../../src/check/node-process.js';

/** A node without actors, in the test process: asks any actor of the cluster directly over the transport. */
export async function startProbe(name: string, nodes: readonly NodeAddress[], secret: Buffer): Promise<{ system: ActorSystem; transport: NodeTransport; close(): Promise<void> }> {
  const log = pino({ level: 'silent' });
  const transport = new NodeTransport({ self: name, nodes, secret, log });
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
