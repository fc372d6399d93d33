// Data path without workers: two endpoints in this thread joined by a MessageChannel.

import { MessageChannel } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Endpoint } from '../../src/runtime/endpoint.js';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { decodeFrame, encodeFrame, frameEnvelopesMax, type AskEnvelope, type Envelope, type TellEnvelope } from '../../src/runtime/wire.js';
import { capturingLogger } from './helpers.js';

function endpoint(self: string, delivered: Array<TellEnvelope | AskEnvelope>, answer = false): Endpoint {
  const created: Endpoint = new Endpoint({
    self,
    clock: Date.now,
    log: capturingLogger([]),
    deliver: (envelope) => {
      delivered.push(envelope);
      if (answer && envelope.kind === 'ask') created.reply(envelope, { echo: envelope.body }, null);
    },
  });
  return created;
}

/** A channel whose port1 counts the frames posted on it (one postMessage each). */
function countingChannel(): { channel: MessageChannel; frames: { posted: number } } {
  const channel = new MessageChannel();
  const frames = { posted: 0 };
  const post = channel.port1.postMessage.bind(channel.port1);
  channel.port1.postMessage = (value: unknown) => {
    frames.posted += 1;
    post(value);
  };
  return { channel, frames };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

test('tells sent in one turn arrive in order, batched into frames of at most frameEnvelopesMax', async () => {
  // Checks batching and FIFO: 10,000 tells in one synchronous loop must take ceil(10000 / max) postMessage
  // calls (counted by wrapping the port) and arrive complete and in order.
  const { channel, frames } = countingChannel();
  const received: Array<TellEnvelope | AskEnvelope> = [];
  const source = endpoint('source', []);
  const target = endpoint('target', received);
  source.connect('target', channel.port1);
  target.connect('source', channel.port2);
  try {
    for (let sequence = 0; sequence < 10_000; sequence += 1) source.tell('target', { type: 'item', sequence });
    await settle();
    assert.is(frames.posted, Math.ceil(10_000 / frameEnvelopesMax));
    assert.is(received.length, 10_000);
    assert.ok(received.every((envelope, index) => (envelope.body as { sequence: number }).sequence === index));
  } finally {
    source.close('test over');
    target.close('test over');
  }
});

test("linkFlush 'immediate' puts envelopes sent from separate callbacks of one loop phase in one frame", async () => {
  // Three setImmediate callbacks run in one check phase, each followed by a microtask checkpoint: a 'microtask'
  // link sends three frames, an 'immediate' link one (the gateway's case: one request per socket callback).
  for (const [linkFlush, framesExpected] of [['microtask', 3], ['immediate', 1]] as const) {
    const { channel, frames } = countingChannel();
    const received: Array<TellEnvelope | AskEnvelope> = [];
    const source = new Endpoint({ self: 'source', clock: Date.now, log: capturingLogger([]), deliver: () => {}, linkFlush });
    const target = endpoint('target', received);
    source.connect('target', channel.port1);
    target.connect('source', channel.port2);
    try {
      for (let sequence = 0; sequence < 3; sequence += 1) setImmediate(() => source.tell('target', { type: 'item', sequence }));
      await settle();
      assert.is(frames.posted, framesExpected, linkFlush);
      assert.equal(received.map((envelope) => (envelope.body as { sequence: number }).sequence), [0, 1, 2], linkFlush);
    } finally {
      source.close('test over');
      target.close('test over');
    }
  }
});

test('malformed frames from a link are discarded and counted, the valid envelopes before them delivered', async () => {
  // Checks validation at the boundary: a non-array frame, a frame whose second envelope has an unknown code,
  // and an ask without a numeric deadline are each counted as invalid (3); the valid tell is still delivered
  // with the link's peer as its sender, whatever the frame says.
  const channel = new MessageChannel();
  const received: Array<TellEnvelope | AskEnvelope> = [];
  const target = endpoint('target', received);
  target.connect('peer', channel.port2);
  try {
    channel.port1.postMessage('not a frame');
    channel.port1.postMessage([0, { type: 'ok' }, 7, 'junk']);
    channel.port1.postMessage([1, 'ask-id', 'no deadline', { type: 'ask' }]);
    await settle();
    assert.is(target.counters.invalid, 3);
    assert.equal(received, [{ kind: 'tell', from: 'peer', to: 'target', body: { type: 'ok' } }]);
  } finally {
    channel.port1.close();
    target.close('test over');
  }
});

test('encodeFrame and decodeFrame round-trip every envelope kind', () => {
  // Checks the pair: encoding then decoding (with the link's two names) gives back the same envelopes.
  const envelopes: Envelope[] = [
    { kind: 'tell', from: 'a', to: 'b', body: { type: 't', n: 1 } },
    { kind: 'ask', from: 'a', to: 'b', id: 'id-1', body: { type: 'q' }, deadlineAtMs: 123 },
    { kind: 'reply', from: 'a', to: 'b', id: 'id-2', body: 5, error: null },
    { kind: 'reply', from: 'a', to: 'b', id: 'id-3', body: undefined, error: { name: 'AskTimeoutError', code: 'ASK_TIMEOUT', message: 'late' } },
  ];
  const decoded = decodeFrame(structuredClone(encodeFrame(envelopes)), 'a', 'b');
  assert.equal(decoded, { ok: true, envelopes, invalidCount: 0, firstProblem: null });
});

test('asks between endpoints resolve with the reply; a peer going away fails its pending asks at once', async () => {
  // Checks correlation and fail-fast: one ask is answered; a second to a silent peer is rejected with
  // ActorCrashedError as soon as the link closes, long before its 5 s deadline; a third finds no route.
  const answering = new MessageChannel();
  const silent = new MessageChannel();
  const asker = endpoint('asker', []);
  const responder = endpoint('responder', [], true);
  const quiet = endpoint('quiet', []);
  asker.connect('responder', answering.port1);
  responder.connect('asker', answering.port2);
  asker.connect('quiet', silent.port1);
  quiet.connect('asker', silent.port2);
  try {
    assert.equal(await asker.ask('responder', { type: 'hello' }), { echo: { type: 'hello' } });
    const pending = asker.ask('quiet', { type: 'hello' }).catch((error: unknown) => error);
    await settle();
    const startedMs = Date.now();
    quiet.close('going away');
    const error = await pending;
    assert.ok(isRuntimeError(error, 'ACTOR_CRASHED'), String(error));
    assert.ok(Date.now() - startedMs < 1_000);
    assert.ok(isRuntimeError(await asker.ask('quiet', { type: 'hello' }).catch((failure: unknown) => failure), 'ACTOR_UNAVAILABLE'));
    assert.is(asker.pendingAskCount, 0);
  } finally {
    asker.close('test over');
    responder.close('test over');
  }
});

test.run();
