// Hostile input against a listening `pygmy node` (a real four-node cluster on loopback with a cluster secret):
// random bytes, a truncated frame, a 4 GiB length prefix, data before the handshake, a wrong secret and a
// replayed handshake. Each connection must be closed by the node, the node must keep serving, and nothing sent on
// those connections may be applied (the stock stays as the one genuine order left it).
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeBatch } from '../../src/runtime/transport/codec.js';
import { connectionLimitsDefault } from '../../src/runtime/transport/connection.js';
import { encodeFrameBytes, FrameReader, payloadKindControl, payloadKindData } from '../../src/runtime/transport/framing.js';
import { freshNonce, parseControl, proofMac, protocolVersion } from '../../src/runtime/transport/handshake.js';
import { freePort, makeTempDir, startNodeProcess, writeLayout, type LayoutNode, type NodeProcess } from '../support/multihost.js';
import { http } from '../support/pygmy-process.js';

const secret = randomBytes(32).toString('hex');
const frameBytesMax = connectionLimitsDefault.frameBytesMax;


interface Context {
  nodes: NodeProcess[];
  url: string;
  target: { host: string; port: number };
}

const test = suite<Context>('transport fuzz against a listening node', { nodes: [], url: '', target: { host: '127.0.0.1', port: 0 } });

test.before(async (context) => {
  const directory = makeTempDir('pygmy-fuzz-');
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const layout: LayoutNode[] = [
    { name: 'a-probe', host: '127.0.0.1', port: ports[4]!, actors: [] },
    { name: 'gateway', host: '127.0.0.1', port: ports[0]!, actors: ['cache'], gateway: { host: '127.0.0.1', port: 0 } },
    { name: 'host-a', host: '127.0.0.1', port: ports[1]!, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: '127.0.0.1', port: ports[2]!, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: '127.0.0.1', port: ports[3]!, actors: ['catalog-3', 'order-3'] },
  ];
  const config = writeLayout(directory, layout);
  const start = (name: string, waitReady = false) => startNodeProcess({ name, config, dataDir: `${directory}/${name}`, env: { PYGMY_CLUSTER_SECRET: secret }, waitReady });
  context.nodes.push(...(await Promise.all(['host-a', 'host-b', 'host-c'].map((name) => start(name)))));
  const gateway = await start('gateway', true);
  context.nodes.push(gateway);
  context.url = gateway.url!;
  context.target = { host: '127.0.0.1', port: ports[3]! };
});

test.after(async (context) => {
  await Promise.all(context.nodes.map((node) => node.stop()));
});

/** Opens a socket to the target, runs `script`, and resolves with how long the node took to close it (ms). */
function closedByNode(target: { host: string; port: number }, script: (socket: Socket, frames: () => unknown[]) => void | Promise<void>, timeoutMs = 6_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    const reader = new FrameReader(frameBytesMax);
    const received: unknown[] = [];
    const startedAt = Date.now();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the node kept the connection open for ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      const result = reader.push(chunk);
      if (result.ok) for (const frame of result.frames) received.push(frame.kind === payloadKindControl ? parseControl(frame.body.toString()) : 'data');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - startedAt);
    });
    socket.on('connect', () => void script(socket, () => received));
  });
}

const control = (message: object) => encodeFrameBytes(payloadKindControl, Buffer.from(JSON.stringify(message)), frameBytesMax);
const waitFor = async (probe: () => unknown, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !probe()) await new Promise((resolve) => setTimeout(resolve, 10));
};

/** A genuine handshake as `a-probe` with `key`; returns the bytes it sent (what an eavesdropper records). */
async function handshake(socket: Socket, frames: () => unknown[], key: string): Promise<Buffer> {
  const nonce = freshNonce();
  const hello = control({ type: 'hello', version: protocolVersion, node: 'a-probe', nonce });
  socket.write(hello);
  await waitFor(() => frames().length > 0);
  const serverHello = frames()[0] as { nonce: string };
  const proof = control({ type: 'proof', mac: proofMac(Buffer.from(key), 'a-probe', 'host-c', serverHello.nonce, nonce) });
  socket.write(proof);
  return Buffer.concat([hello, proof]);
}

const maliciousTell = () => encodeFrameBytes(payloadKindData, encodeBatch([{ kind: 'tell', from: 'a-probe', to: 'catalog-3', body: { type: 'propose', command: 'x' } }]), frameBytesMax);

test('every hostile connection is closed, the node keeps serving, and nothing is applied', async ({ url, target }) => {
  // Checks the transport boundary: each case below must end with the node closing the socket (a timeout fails
  // the test), then an order through the gateway must still succeed and the stock must show only that order.
  assert.is((await http('POST', `${url}/order/1?amount=2`)).text, 'true');
  const stock = (await http('GET', `${url}/lookup/1`)).json().result.stock;
  assert.is(stock, 8);
  const randomMs = await closedByNode(target, (socket) => void socket.write(randomBytes(65_536)));
  const hugeMs = await closedByNode(target, (socket) => void socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x64, 1, 2, 3])));
  const truncatedMs = await closedByNode(target, (socket) => {
    const frame = control({ type: 'hello', version: protocolVersion, node: 'a-probe', nonce: freshNonce() });
    socket.end(frame.subarray(0, frame.length - 10));
  });
  const dataFirstMs = await closedByNode(target, (socket) => void socket.write(maliciousTell()));
  const wrongSecretMs = await closedByNode(target, async (socket, frames) => {
    await handshake(socket, frames, 'not-the-cluster-secret-at-all');
    socket.write(maliciousTell());
  });
  let recorded: Buffer | null = null;
  await closedByNode(target, async (socket, frames) => {
    recorded = await handshake(socket, frames, secret);
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy(); // The genuine session ends; its bytes are replayed below.
  });
  const replayMs = await closedByNode(target, (socket) => {
    socket.write(recorded!);
    socket.write(maliciousTell());
  });
  for (const [what, ms] of Object.entries({ randomMs, hugeMs, truncatedMs, dataFirstMs, wrongSecretMs, replayMs })) assert.ok(ms < 5_000, `${what}: closed after ${ms} ms`);
  assert.ok(hugeMs < 1_000, `a 4 GiB prefix is refused at once (${hugeMs} ms)`);
  assert.is((await http('POST', `${url}/order/2`)).text, 'true', 'the cluster still takes orders');
  assert.is((await http('GET', `${url}/lookup/1`)).json().result.stock, 8, 'nothing from the hostile connections was applied');
});

test('the node logs why it closed each connection', async ({ nodes }) => {
  // Checks that the reasons are logged in plain words on the attacked node (and that it did not crash).
  const hostC = nodes.find((node) => node.name === 'host-c')!;
  assert.is(hostC.child.exitCode, null, 'host-c still runs');
  const output = hostC.output();
  for (const reason of ['over the bound', 'data before the handshake', 'failed authentication', 'truncated frame']) {
    assert.ok(output.includes(reason), `host-c logged "${reason}"`);
  }
});

test.run();
