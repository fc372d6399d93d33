// Data-path tests: ordering, asks and their typed failures, mailbox bounds, deferred replies, bad input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRuntimeError } from '../../src/runtime/errors.js';
import type { ActorStatus } from '../../src/runtime/system.js';
import { counterModule, counterPair, type LogLine, makeSystem, rejection, sequenceModule, startSystem, waitFor, withSystem } from './helpers.js';

function statusOf(statuses: ActorStatus[], name: string): ActorStatus {
  const status = statuses.find((candidate) => candidate.name === name);
  if (status === undefined) throw new Error(`no status for ${name}`);
  return status;
}

test('ask from the main thread reaches an actor in its worker and returns its answer', async () => {
  // Checks the basic round trip: three increments through ask must answer 1, 2, 3 in order.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    assert.is(await system.ask('counter', { type: 'increment' }), 1);
    assert.is(await system.ask('counter', { type: 'increment' }), 2);
    assert.is(await system.ask('counter', { type: 'increment' }), 3);
  });
});

test('100,000 tells between two workers arrive complete and in per-sender order', async () => {
  // Checks FIFO and no loss on the worker-to-worker path: the receiver counts numbers that are not the one
  // expected next from their sender; after 100,000 it must have received all and counted none out of order.
  const system = makeSystem([]);
  const count = 100_000;
  try {
    await system.start([
      { name: 'sink', module: sequenceModule, mailboxCapacity: count + 10 },
      { name: 'source', module: sequenceModule },
    ]);
    await system.ask('source', { type: 'send', target: 'sink', count });
    let report = { received: 0, outOfOrder: -1 };
    await waitFor(async () => {
      report = await system.ask('sink', { type: 'report' });
      return report.received >= count;
    }, 30_000, 'all messages at the sink');
    assert.equal(report, { received: count, outOfOrder: 0 });
    const statuses = await system.status();
    assert.is(statusOf(statuses, 'sink').dropped, 0);
    assert.is(statusOf(statuses, 'source').deadLetters, 0);
  } finally {
    await system.shutdown();
  }
});

test('an ask past its deadline rejects with AskTimeoutError, not later than the deadline', async () => {
  // Checks the typed timeout: a handler that sleeps 600 ms is asked with a 100 ms deadline.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    const startedMs = Date.now();
    const error = await rejection(system.ask('counter', { type: 'sleep', ms: 600 }, { timeoutMs: 100 }));
    const elapsedMs = Date.now() - startedMs;
    assert.ok(isRuntimeError(error, 'ASK_TIMEOUT'), String(error));
    assert.ok(elapsedMs >= 90 && elapsedMs < 400, `timed out after ${elapsedMs} ms`);
  });
});

test('an ask to an unknown actor fails fast with ActorUnavailableError', async () => {
  // Checks fail-fast: no route means an immediate typed rejection, well before the 5 s default deadline.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    const startedMs = Date.now();
    const error = await rejection(system.ask('nobody', { type: 'get' }));
    assert.ok(isRuntimeError(error, 'ACTOR_UNAVAILABLE'), String(error));
    assert.ok(Date.now() - startedMs < 100);
    await system.ask('counter', { type: 'tell', target: 'nobody', message: { type: 'get' } });
    assert.is(statusOf(await system.status(), 'counter').deadLetters, 1);
  });
});

test('a full mailbox refuses asks with MailboxFullError and counts refused tells as dropped', async () => {
  // Checks the bound: capacity 2, the handler is busy sleeping, two asks fill the mailbox, the third ask must
  // be refused with the typed error and a tell must be counted as dropped; the queued two still succeed.
  await withSystem([{ name: 'counter', module: counterModule, mailboxCapacity: 2 }], async (system) => {
    const sleeping = system.ask('counter', { type: 'sleep', ms: 300 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const queued = [system.ask('counter', { type: 'increment' }), system.ask('counter', { type: 'increment' })];
    const refused = rejection(system.ask('counter', { type: 'increment' }));
    system.tell('counter', { type: 'increment' });
    assert.ok(isRuntimeError(await refused, 'MAILBOX_FULL'), String(await refused));
    assert.equal(await Promise.all(queued), [1, 2]);
    assert.is(await sleeping, 'slept');
    assert.is(statusOf(await system.status(), 'counter').dropped, 2);
  });
});

test('deferReply answers later from a timer without blocking the mailbox; a deferred rejection is a RemoteError', async () => {
  // Checks deferred answers: the deferred ask resolves after its timer, while an ask sent after it is answered
  // first (the mailbox was not blocked); the timer message has no sender.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    const order: string[] = [];
    const deferred = system.ask('counter', { type: 'defer', afterMs: 150 }).then((value) => {
      order.push('deferred');
      return value;
    });
    const direct = system.ask('counter', { type: 'increment' }).then(() => order.push('direct'));
    await direct;
    assert.equal(await deferred, { count: 1, sender: null });
    assert.equal(order, ['direct', 'deferred']);
    const error = await rejection(system.ask('counter', { type: 'reject', message: 'no such thing' }));
    assert.ok(isRuntimeError(error, 'REMOTE_ERROR'), String(error));
    assert.match((error as Error).message, 'no such thing');
  });
});

test('a deferred reply\'s deadline is on the clock of context.now(), at the ask\'s time remaining', async () => {
  // Checks Reply.deadlineAtMs, which actors compare with context.now(): asked with a 3 s timeout, the actor sees
  // between 0 and 3 s left (the runtime's own deadlines are on another clock, which must not leak through).
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    const leftMs = await system.ask<number>('counter', { type: 'time-left' }, { timeoutMs: 3_000 });
    assert.ok(leftMs > 0 && leftMs <= 3_000, `time left ${leftMs} ms`);
  });
});

test('a repeating timer delivers to its own actor with no sender until it is cancelled', async () => {
  // Checks timers: ticks every 20 ms raise the count by 1 each (by 1,000 if they carried a sender); after
  // cancelTimer the count must not move for 150 ms.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    await system.ask('counter', { type: 'start-ticking', everyMs: 20 });
    await waitFor(async () => (await system.ask<number>('counter', { type: 'get' })) >= 3, 2_000, 'three ticks');
    const countAtCancel = await system.ask<number>('counter', { type: 'stop-ticking' });
    assert.ok(countAtCancel < 1_000, `ticks carried a sender: ${countAtCancel}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.is(await system.ask('counter', { type: 'get' }), countAtCancel);
  });
});

test('a message of unknown type is counted and logged, never crashes the actor', async () => {
  // Checks boundary validation: an ask of unknown type is refused with a RemoteError, a tell of a number and
  // a tell without a type are counted as invalid; the actor keeps its state and was never restarted.
  const lines: LogLine[] = [];
  const system = await startSystem([{ name: 'counter', module: counterModule }], lines);
  try {
    await system.ask('counter', { type: 'increment' });
    const error = await rejection(system.ask('counter', { type: 'bogus' }));
    assert.ok(isRuntimeError(error, 'REMOTE_ERROR'), String(error));
    system.tell('counter', 42);
    system.tell('counter', { kind: 'no type' });
    assert.is(await system.ask('counter', { type: 'get' }), 1);
    const status = statusOf(await system.status(), 'counter');
    assert.is(status.invalid, 3);
    assert.is(status.restarts, 0);
    assert.ok(lines.some((line) => line.message.includes('invalid')), 'the refusal was logged');
  } finally {
    await system.shutdown();
  }
});

test('actors ask each other directly and see who sent a message', async () => {
  // Checks the worker-to-worker ask path and ActorContext.sender: a forwards to b and b reports its sender.
  await withSystem(counterPair, async (system) => {
    assert.is(await system.ask('a', { type: 'forward', target: 'b', message: { type: 'increment' } }), 1);
    assert.is(await system.ask('a', { type: 'forward', target: 'b', message: { type: 'who' } }), 'a');
    assert.is(await system.ask('b', { type: 'who' }), '$system');
    // An inner ask timing out inside a handler that does not catch it is an error thrown by receive(): by the
    // runtime's policy the forwarding actor crashes and the outer ask says so.
    const error = await rejection(system.ask('a', { type: 'forward', target: 'b', message: { type: 'sleep', ms: 400 }, timeoutMs: 50 }));
    assert.ok(isRuntimeError(error, 'ACTOR_CRASHED'), String(error));
    assert.match((error as Error).message, 'did not answer within 50 ms');
  });
});

test.run();
