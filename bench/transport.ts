// Transport benchmark (not a test): one-way tell throughput and ask round-trip latency between two actors on two
// nodes joined by the TCP transport (loopback), beside the same two actors in one process over MessagePorts,
// measured in the same run. Both nodes live in this process (two ActorSystems, two NodeTransports, one TCP
// connection), so their two main threads share one event loop: the TCP figures are a lower bound.
// Run: npm run build && node dist/bench/transport.js [tellCount] [roundTrips]

import { createServer } from 'node:net';
import { ActorSystem, type ChildSpec } from '../src/runtime/system.js';
import { NodeTransport, type NodeAddress } from '../src/runtime/transport/node-transport.js';
import { drive, quietLogger, type Figures } from './runtime/drive.js';

const tellCount = Number(process.argv[2] ?? 300_000);
const roundTripCount = Number(process.argv[3] ?? 5_000);
const warmupRoundTrips = 500;
const counts = { tellCount, roundTripCount, warmupRoundTrips, askLoopTimeoutMs: 300_000 };
const module = new URL('./runtime/bench-actor.js', import.meta.url);

const sinkSpec: ChildSpec = { name: 'sink', module, mailboxCapacity: tellCount + 1_000 };
const sourceSpec: ChildSpec = { name: 'source', module };

async function measureInProcess(): Promise<Figures> {
  const system = new ActorSystem({ logger: quietLogger });
  try {
    await system.start([sinkSpec, sourceSpec]);
    return await drive(system, system, counts);
  } finally {
    await system.shutdown();
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function measureTcp(): Promise<Figures> {
  const nodes: NodeAddress[] = [
    { name: 'bench-a', host: '127.0.0.1', port: await freePort(), actors: ['source'] },
    { name: 'bench-b', host: '127.0.0.1', port: await freePort(), actors: ['sink'] },
  ];
  const secret = Buffer.from('benchmark-secret-of-enough-bytes');
  const transports = nodes.map((node) => new NodeTransport({ self: node.name, nodes, secret, log: quietLogger }));
  const systems = transports.map((transport) => new ActorSystem({ logger: quietLogger, remote: transport }));
  transports.forEach((transport, index) => transport.attachSystem(systems[index]!));
  try {
    await Promise.all(transports.map((transport) => transport.listen()));
    await systems[1]!.start([sinkSpec]);
    await systems[0]!.start([sourceSpec]);
    while (transports[0]!.connectedNodes().length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    return await drive(systems[0]!, systems[1]!, counts);
  } finally {
    await Promise.all(systems.map((system) => system.shutdown()));
    await Promise.all(transports.map((transport) => transport.close()));
  }
}

const row = (label: string, figures: Figures) =>
  `${label.padEnd(26)} ${`${Math.round(figures.tellsPerSecond).toLocaleString('en-US')} msg/s`.padStart(16)}   ask p50 ${figures.roundTripP50Ms.toFixed(3)} ms   p99 ${figures.roundTripP99Ms.toFixed(3)} ms`;

console.log(`tells: ${tellCount.toLocaleString('en-US')}, round trips: ${roundTripCount.toLocaleString('en-US')} (after ${warmupRoundTrips} warm-up)`);
console.log(row('in-process (MessagePort)', await measureInProcess()));
console.log(row('two nodes over TCP', await measureTcp()));
