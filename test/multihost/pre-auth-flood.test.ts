// 500 slow or oversize pre-handshake sockets against a real `pygmy node` (a four-node cluster on loopback with a
// cluster secret; the layout also allows 127.0.0.2 and 127.0.0.3, as it would a peer behind NAT). The sockets
// come from an address outside the allow list (127.0.0.4: refused at once), from the two extra allowed addresses
// (they take handshake slots, all through the flood), and, in a first burst, from the peers' own address.
// Checks on the attacked node, host-c: its resident memory (VmRSS, sampled every 25 ms) grows by less than
// rssGrowthBytesMax over the flood (each oversize socket sends 4 MiB of a 10 MiB frame; before the 4 KiB pre-auth
// bound the node read and held them, measured below); a real peer (a probe node in this process) connects to host-c
// during the flood and asks it for its status; orders keep flowing through the gateway during the flood.
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { controlNameOf } from '../../src/runtime/transport/node-transport.js';
import { freePort, makeTempDir, startNodeProcess, startProbe, writeLayout, type LayoutNode, type NodeProcess, type Probe } from '../support/multihost.js';
import { http } from '../support/pygmy-process.js';
import { stranger, type StrangerKind, type StrangerPace } from '../support/stranger.js';

const secret = randomBytes(32).toString('hex');
const socketsTotal = 500;
/** Sockets open in bursts of 25: the first 100 quickly, the rest paced so that the flood lasts ~6 s. */
const burstSockets = 25;
const burstPauseMs = 360;
const ordersDuringFloodMax = 20;
const rssGrowthBytesMax = 24 * 1024 * 1024;
/** Each oversize socket sends 4 MiB of its 10 MiB frame: one buffer shared by all, so this process stays small. */
const pace: StrangerPace = { oversizeBody: Buffer.alloc(4 * 1024 * 1024, 0x64), dribbleBytes: 32, dribbleEveryMs: 25 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Context {
  nodes: NodeProcess[];
  layout: LayoutNode[];
  url: string;
  targetPort: number;
}

const test = suite<Context>('pre-auth flood against a pygmy node', { nodes: [], layout: [], url: '', targetPort: 0 });

test.before(async (context) => {
  const directory = makeTempDir('pygmy-flood-');
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  context.layout = [
    { name: 'a-probe', host: '127.0.0.1', port: ports[4]!, actors: [] },
    { name: 'gateway', host: '127.0.0.1', port: ports[0]!, actors: ['cache'], gateway: { host: '127.0.0.1', port: 0 } },
    { name: 'host-a', host: '127.0.0.1', port: ports[1]!, actors: ['catalog-1', 'order-1'] },
    { name: 'host-b', host: '127.0.0.1', port: ports[2]!, actors: ['catalog-2', 'order-2'] },
    { name: 'host-c', host: '127.0.0.1', port: ports[3]!, actors: ['catalog-3', 'order-3'] },
  ];
  const config = writeLayout(directory, context.layout);
  writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), allowFrom: ['127.0.0.2', '127.0.0.3'] }));
  const start = (name: string, waitReady = false) => startNodeProcess({ name, config, dataDir: `${directory}/${name}`, env: { PYGMY_CLUSTER_SECRET: secret }, waitReady, logLevel: 'error' });
  context.nodes.push(...(await Promise.all(['host-a', 'host-b', 'host-c'].map((name) => start(name)))));
  const gateway = await start('gateway', true);
  context.nodes.push(gateway);
  context.url = gateway.url!;
  context.targetPort = ports[3]!;
});

test.after(async (context) => {
  await Promise.all(context.nodes.map((node) => node.stop()));
});

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

test('the node holds nothing for 500 strangers, a real peer still connects, orders keep flowing', async ({ nodes, layout, url, targetPort }) => {
  const hostC = nodes.find((node) => node.name === 'host-c')!;
  const pid = hostC.child.pid!;
  assert.is((await http('POST', `${url}/order/1`)).text, 'true');
  const baseline = residentBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pid))), 25);
  const open = new Set<Socket>();
  const kinds: StrangerKind[] = ['oversize', 'slow', 'full', 'silent'];
  let opened = 0;
  let orders = 0;
  let probe: Probe | null = null;
  try {
    const flood = (async () => {
      while (opened < socketsTotal) {
        const address = opened < 100 ? ['127.0.0.4', '127.0.0.2', '127.0.0.3', '127.0.0.1'][opened % 4]! : ['127.0.0.4', '127.0.0.2', '127.0.0.3'][opened % 3]!;
        void stranger(targetPort, address, kinds[Math.floor(opened / 4) % kinds.length]!, open, pace);
        opened += 1;
        if (opened % burstSockets === 0) await sleep(opened <= 100 ? 10 : burstPauseMs);
      }
    })();
    await sleep(500);
    // A real peer, holding the secret, dials host-c in the middle of the flood and asks it something.
    probe = await startProbe('a-probe', layout, Buffer.from(secret));
    const dialedAt = Date.now();
    while (!probe.transport.connectedNodes().includes('host-c') && Date.now() - dialedAt < 5_000) await sleep(10);
    assert.ok(probe.transport.connectedNodes().includes('host-c'), 'the real peer connected to host-c during the flood');
    assert.ok(opened < socketsTotal, 'while the flood went on');
    const status = await probe.system.ask(controlNameOf('host-c'), { type: 'status' }, { timeoutMs: 5_000 });
    assert.ok(Array.isArray(status), 'host-c answered the real peer');
    while (opened < socketsTotal && orders < ordersDuringFloodMax) {
      assert.is((await http('POST', `${url}/order/3`)).text, 'true', 'an order during the flood');
      orders += 1;
      await sleep(100);
    }
    await flood;
    assert.is(opened, socketsTotal);
    assert.ok(probe.transport.connectedNodes().includes('host-c'), 'the real peer is still connected');
  } finally {
    clearInterval(sampler);
    for (const socket of open) socket.destroy();
    await probe?.close();
  }
  const growth = peak - baseline;
  console.log(`host-c VmRSS ${Math.round(baseline / 1024)} KiB before, peak ${Math.round(peak / 1024)} KiB during the flood (+${Math.round(growth / 1024)} KiB); ${orders} orders during it`);
  assert.ok(growth < rssGrowthBytesMax, `host-c grew by ${growth} bytes`);
  assert.ok(orders >= 3, `only ${orders} orders went through during the flood`);
  assert.is(hostC.child.exitCode, null, 'host-c still runs');
  assert.is((await http('GET', `${url}/lookup/3`)).json().result.stock, 25 - orders, 'every order during the flood applied once');
});

test.run();
