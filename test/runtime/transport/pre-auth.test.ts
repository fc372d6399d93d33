// Before authentication, against a real NodeTransport on loopback: 500 hostile sockets (oversize frames, slow
// frames that fill the 4 KiB pre-auth bound, silent sockets; from an address outside the allow list, from other
// allowed addresses, and from the peers' own address) keep coming for a few seconds while a real peer dials.
// Checks, from the transport's own accounting sampled throughout: the bytes held for unauthenticated sockets never
// pass 1 MiB (nor the slots × 4 KiB they can actually reach), sockets from unlisted addresses are refused at once,
// and the real peer connects while the flood goes on. Every socket is closed at the end.
import type { Socket } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { frameHeaderBytes, preAuthFrameBytesMax } from '../../../src/runtime/transport/framing.js';
import { NodeTransport, type NodeAddress } from '../../../src/runtime/transport/node-transport.js';
import { freePort } from '../../support/multihost.js';
import { stranger, type StrangerKind, type StrangerPace } from '../../support/stranger.js';

const secret = Buffer.from('pre-auth-test-secret-of-32-bytes!');
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pace: StrangerPace = { oversizeBody: Buffer.alloc(256 * 1024, 0x64), dribbleBytes: 64, dribbleEveryMs: 20 };

const test = suite('transport before authentication');

test('500 hostile sockets never hold more than the pre-auth bound, and a real peer still connects', async () => {
  const ports = [await freePort(), await freePort()];
  const nodes: NodeAddress[] = [
    { name: 'node-a', host: '127.0.0.1', port: ports[0]!, actors: [] },
    { name: 'node-b', host: '127.0.0.1', port: ports[1]!, actors: [] },
  ];
  // node-b accepts; 127.0.0.2 and .3 are allowed (as a NAT'd peer would be), 127.0.0.4 is not.
  const handshakesMax = 8;
  const target = new NodeTransport({ self: 'node-b', nodes, secret, log, allowFrom: ['127.0.0.2', '127.0.0.3'], admission: { handshakesPerAddressMax: 4, handshakesMax } });
  await target.listen();
  const open = new Set<Socket>();
  let peakSampled = 0;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, target.preAuthBytes().held)), 5);
  const kinds: StrangerKind[] = ['oversize', 'slow', 'full', 'silent'];
  const addresses = ['127.0.0.4', '127.0.0.2', '127.0.0.3', '127.0.0.1'];
  const floodUntilMs = Date.now() + 4_000;
  let opened = 0;
  const flood = (async () => {
    const running: Promise<void>[] = [];
    while (opened < 500 && Date.now() < floodUntilMs) {
      // The peers' own address only in the first burst; the other addresses keep coming.
      const address = opened < 100 ? addresses[opened % 4]! : addresses[opened % 3]!;
      running.push(stranger(ports[1]!, address, kinds[opened % kinds.length]!, open, pace));
      opened += 1;
      if (opened % 25 === 0) await sleep(opened < 100 ? 5 : 40);
    }
    await Promise.race([Promise.all(running), sleep(Math.max(0, floodUntilMs - Date.now()))]);
  })();
  let dialer: NodeTransport | null = null;
  try {
    await sleep(300); // the flood is under way
    dialer = new NodeTransport({ self: 'node-a', nodes, secret, log });
    await dialer.listen();
    const startedAt = Date.now();
    while (target.connectedNodes().length === 0 && Date.now() - startedAt < 3_000) await sleep(10);
    assert.equal(target.connectedNodes(), ['node-a'], 'the real peer connected during the flood');
    assert.ok(Date.now() < floodUntilMs, 'the peer connected while the flood went on');
    await flood;
    assert.is(opened, 500);
    const accounting = target.preAuthBytes();
    assert.ok(accounting.peak <= 1024 * 1024, `peak pre-auth bytes ${accounting.peak} within 1 MiB`);
    assert.ok(accounting.peak <= handshakesMax * (frameHeaderBytes + preAuthFrameBytesMax), `peak ${accounting.peak} within the slots' reach`);
    assert.ok(accounting.peak > 0, 'the accounting saw the slow and full frames');
    assert.ok(peakSampled <= accounting.peak);
    assert.ok(target.counters.refusedAddresses >= 100, `refused ${target.counters.refusedAddresses} sockets from 127.0.0.4`);
    assert.ok(target.counters.evictedHandshakes > 0, `slots were taken back from older strangers: ${JSON.stringify(target.counters)}`);
    assert.equal(target.connectedNodes(), ['node-a'], 'the peer is still connected');
  } finally {
    clearInterval(sampler);
    for (const socket of open) socket.destroy();
    await dialer?.close();
    await target.close();
  }
});

test('a peer whose host name did not resolve at start gets in once it does', async () => {
  // The layout names node-a by a host name that fails to resolve when node-b starts (a container not up yet),
  // then resolves: node-a's first dials are refused as from an unknown address, a refusal starts a new
  // resolution (at most every 200 ms here), and node-a connects on a later dial.
  const ports = [await freePort(), await freePort()];
  const layout = (hostOfA: string): NodeAddress[] => [
    { name: 'node-a', host: hostOfA, port: ports[0]!, actors: [] },
    { name: 'node-b', host: '127.0.0.1', port: ports[1]!, actors: [] },
  ];
  let resolvable = false;
  const lookups: string[] = [];
  const lookupHost = async (host: string) => {
    lookups.push(host);
    if (!resolvable) throw new Error(`${host}: not found (yet)`);
    return ['127.0.0.1'];
  };
  const target = new NodeTransport({ self: 'node-b', nodes: layout('node-a.test'), secret, log, lookupHost, allowListRefreshMs: 200 });
  await target.listen();
  const dialer = new NodeTransport({ self: 'node-a', nodes: layout('127.0.0.1'), secret, log, reconnectMaxMs: 100, listenHost: '127.0.0.1' });
  try {
    await dialer.listen();
    await sleep(300);
    assert.equal(target.connectedNodes(), [], 'refused while node-a does not resolve');
    assert.ok(target.counters.refusedAddresses > 0);
    resolvable = true;
    const startedAt = Date.now();
    while (target.connectedNodes().length === 0 && Date.now() - startedAt < 3_000) await sleep(10);
    assert.equal(target.connectedNodes(), ['node-a']);
    assert.ok(lookups.length >= 2 && lookups.length <= 1 + Math.ceil((Date.now() - startedAt + 300) / 200) + 1, `${lookups.length} lookups, at most one per 200 ms`);
  } finally {
    await dialer.close();
    await target.close();
  }
});

test.run();
