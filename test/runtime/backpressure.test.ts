// The endpoint honours the transport contract: once a link's send() returns false, nothing more goes on it until
// its drain; what is sent meanwhile is held in order, bounded by linkHeldEnvelopesMax and counted. Checked with a
// scripted link (busy after a set number of sends, drained by hand) and with the real MessagePort link pushed past
// its per-turn high water.

import { MessageChannel } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Endpoint } from '../../src/runtime/endpoint.js';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { linkTurnEnvelopesHighWater, type Link, type LinkHandlers } from '../../src/runtime/transport.js';
import type { AskEnvelope, Envelope, TellEnvelope } from '../../src/runtime/wire.js';
import { capturingLogger } from './helpers.js';

/** A link that accepts every envelope but reports busy once `acceptedBeforeBusy` more were sent; drain() by hand. */
class ScriptedLink implements Link {
  readonly peer: string;
  readonly sent: Envelope[] = [];
  acceptedBeforeBusy: number;
  handlers: LinkHandlers;
  private drainListeners: Array<() => void> = [];

  constructor(peer: string, handlers: LinkHandlers, acceptedBeforeBusy: number) {
    this.peer = peer;
    this.handlers = handlers;
    this.acceptedBeforeBusy = acceptedBeforeBusy;
  }

  send(envelope: Envelope): boolean {
    this.sent.push(envelope);
    this.acceptedBeforeBusy -= 1;
    return this.acceptedBeforeBusy > 0;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  drain(acceptedBeforeBusy: number): void {
    this.acceptedBeforeBusy = acceptedBeforeBusy;
    const listeners = this.drainListeners.splice(0, this.drainListeners.length);
    for (const listener of listeners) listener();
  }

  get drainWaiters(): number {
    return this.drainListeners.length;
  }

  flush(): void {}

  close(): void {}
}

function endpoint(linkHeldEnvelopesMax?: number): Endpoint {
  return new Endpoint({ self: 'source', clock: Date.now, log: capturingLogger([]), deliver: () => undefined, linkHeldEnvelopesMax });
}

function scripted(source: Endpoint, acceptedBeforeBusy: number): ScriptedLink {
  let link: ScriptedLink | null = null;
  source.attach('target', (handlers) => (link = new ScriptedLink('target', handlers, acceptedBeforeBusy)));
  return link!;
}

const sequenceOf = (envelope: Envelope): number => ((envelope as TellEnvelope).body as { sequence: number }).sequence;

test('after send() returns false nothing more is sent until drain; what was held goes out in order', () => {
  const source = endpoint();
  const link = scripted(source, 3);
  for (let sequence = 0; sequence < 10; sequence += 1) source.tell('target', { type: 'item', sequence });
  assert.is(link.sent.length, 3, 'the third send said busy: the endpoint stops there');
  assert.is(source.heldFor('target'), 7);
  assert.is(source.counters.held, 7);
  assert.is(link.drainWaiters, 1, 'one drain listener per busy period');
  link.drain(100);
  assert.equal(link.sent.map(sequenceOf), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.is(source.heldFor('target'), 0);
  assert.is(source.counters.held, 0);
  assert.is(source.counters.dropped, 0);
  source.close('test over');
});

test('a drain that leaves the link busy again keeps the rest held, in order, until the next drain', () => {
  const source = endpoint();
  const link = scripted(source, 1);
  for (let sequence = 0; sequence < 6; sequence += 1) source.tell('target', { type: 'item', sequence });
  assert.is(link.sent.length, 1);
  link.drain(2);
  assert.equal(link.sent.map(sequenceOf), [0, 1, 2]);
  assert.is(source.heldFor('target'), 3);
  source.tell('target', { type: 'item', sequence: 6 });
  assert.is(link.sent.length, 3, 'a send while held waits behind what is held (per-sender FIFO)');
  link.drain(100);
  assert.equal(link.sent.map(sequenceOf), [0, 1, 2, 3, 4, 5, 6]);
  assert.is(source.counters.held, 0);
  source.close('test over');
});

test('past linkHeldEnvelopesMax a tell is dropped and counted, an ask fails at once with MAILBOX_FULL', async () => {
  const source = endpoint(2);
  const link = scripted(source, 1);
  source.tell('target', { type: 'item', sequence: 0 }); // sent, and the link says busy
  source.tell('target', { type: 'item', sequence: 1 }); // held
  source.tell('target', { type: 'item', sequence: 2 }); // held: the bound is reached
  source.tell('target', { type: 'item', sequence: 3 }); // dropped
  assert.is(source.counters.held, 2);
  assert.is(source.counters.dropped, 1);
  const refused = await source.ask('target', { type: 'question' }, { timeoutMs: 60_000 }).then(() => null, (error: unknown) => error);
  assert.ok(isRuntimeError(refused, 'MAILBOX_FULL'), `an ask past the bound is refused at once, got ${String(refused)}`);
  assert.is(source.pendingAskCount, 0);
  link.drain(100);
  assert.equal(link.sent.map(sequenceOf), [0, 1, 2]);
  source.close('test over');
});

test('a busy link that closes: what was held is counted dropped and the asks held for it fail with ACTOR_CRASHED', async () => {
  const source = endpoint();
  const link = scripted(source, 1);
  source.tell('target', { type: 'item', sequence: 0 });
  const asked = source.ask('target', { type: 'question' }, { timeoutMs: 60_000 }).then(() => null, (error: unknown) => error);
  source.tell('target', { type: 'item', sequence: 1 });
  assert.is(source.counters.held, 2);
  link.handlers.onClose();
  assert.ok(isRuntimeError(await asked, 'ACTOR_CRASHED'));
  assert.is(source.counters.held, 0);
  assert.is(source.counters.dropped, 2);
  link.drain(100); // a late drain of the closed link sends nothing
  assert.is(link.sent.length, 1);
  source.close('test over');
});

test('the MessagePort link: tells past the per-turn high water are held, then all arrive in order', async () => {
  // One synchronous loop sends more than linkTurnEnvelopesHighWater tells: the link says busy at the high water,
  // the endpoint holds the rest (checked right after the loop) and sends them at the drain (next turn).
  const count = linkTurnEnvelopesHighWater + 5_000;
  const received: Array<TellEnvelope | AskEnvelope> = [];
  const channel = new MessageChannel();
  const source = endpoint();
  const target = new Endpoint({ self: 'target', clock: Date.now, log: capturingLogger([]), deliver: (envelope) => received.push(envelope) });
  source.connect('target', channel.port1);
  target.connect('source', channel.port2);
  try {
    for (let sequence = 0; sequence < count; sequence += 1) source.tell('target', { type: 'item', sequence });
    assert.is(source.heldFor('target'), count - linkTurnEnvelopesHighWater);
    const deadlineMs = Date.now() + 20_000;
    while (received.length < count && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.is(received.length, count);
    assert.ok(received.every((envelope, index) => sequenceOf(envelope) === index), 'in order');
    assert.is(source.counters.held, 0);
    assert.is(source.counters.dropped, 0);
  } finally {
    source.close('test over');
    target.close('test over');
  }
});

test.run();
