// Supervisor tests with real worker threads: crash, kill, hang, escalation, stop/start, isolation.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRuntimeError } from '../../src/runtime/errors.js';
import type { ActorStatus, EscalateEvent, RestartEvent, SystemMessageEvent } from '../../src/runtime/system.js';
import { counterModule, counterPair, type LogLine, makeSystem, once, rejection, startSystem, waitFor, withSystem } from './helpers.js';

async function statusOf(system: ReturnType<typeof makeSystem>, name: string): Promise<ActorStatus> {
  const status = (await system.status()).find((candidate) => candidate.name === name);
  if (status === undefined) throw new Error(`no status for ${name}`);
  return status;
}

test('a handler that throws crashes its actor; the ask is rejected and the restart starts from init', async () => {
  // Checks crash handling end to end: state 2 before the crash, ActorCrashedError for the ask, a 'restart'
  // event and the log line in plain words, then state 0 again (fresh from init) and restarts = 1.
  const lines: LogLine[] = [];
  const system = await startSystem([{ name: 'counter', module: counterModule }], lines);
  try {
    await system.ask('counter', { type: 'increment' });
    await system.ask('counter', { type: 'increment' });
    const restarted = once<RestartEvent>(system, 'restart', 3_000);
    const error = await rejection(system.ask('counter', { type: 'throw', message: 'boom' }));
    assert.ok(isRuntimeError(error, 'ACTOR_CRASHED'), String(error));
    assert.match((error as Error).message, 'boom');
    assert.is((await restarted).restartsInWindow, 1);
    await waitFor(async () => (await statusOf(system, 'counter')).state === 'running', 3_000, 'counter running again');
    assert.is(await system.ask('counter', { type: 'get' }), 0);
    assert.is((await statusOf(system, 'counter')).restarts, 1);
    assert.ok(lines.some((line) => line.message === 'supervisor restarted counter (crash 1 of 5 in 60s)'), 'restart logged in plain words');
  } finally {
    await system.shutdown();
  }
});

test('argsAtStart gives every start, restarts included, the args of that moment', async () => {
  // A spec's args are fixed when it is made; argsAtStart is read again at each start, so a restarted actor starts
  // from what its node knows now (a cluster gives restarted actors the catalog's members as they are then).
  let starts = 0;
  const system = await startSystem([{ name: 'counter', module: counterModule, argsAtStart: () => ({ label: `start ${starts += 1}` }) }], []);
  try {
    assert.is(await system.ask('counter', { type: 'label' }), 'start 1');
    await rejection(system.ask('counter', { type: 'throw', message: 'boom' }));
    await waitFor(async () => (await statusOf(system, 'counter')).state === 'running', 3_000, 'counter running again');
    assert.is(await system.ask('counter', { type: 'label' }), 'start 2');
  } finally {
    await system.shutdown();
  }
});

test('status and shutdown right as an actor crashes answer at once instead of waiting out their timeouts', async () => {
  // The ask's rejection arrives before the crashed worker's exit is handled: a status or stop sent then reaches a
  // worker that will never answer. Both must notice the exit (control timeout 2 s, stop timeout 5 s here).
  const system = makeSystem([], { controlTimeoutMs: 2_000 });
  let shutDown = false;
  try {
    await system.start([{ name: 'counter', module: counterModule, stopTimeoutMs: 5_000 }]);
    await rejection(system.ask('counter', { type: 'throw', message: 'boom' }));
    const statusStartedAt = Date.now();
    await system.status();
    const statusMs = Date.now() - statusStartedAt;
    await waitFor(async () => (await statusOf(system, 'counter')).state === 'running', 3_000, 'counter running again');
    assert.ok(isRuntimeError(await rejection(system.ask('counter', { type: 'throw', message: 'boom again' })), 'ACTOR_CRASHED'));
    const shutdownStartedAt = Date.now();
    await system.shutdown();
    shutDown = true;
    const shutdownMs = Date.now() - shutdownStartedAt;
    assert.ok(statusMs < 1_000, `status took ${statusMs} ms`);
    assert.ok(shutdownMs < 1_000, `shutdown took ${shutdownMs} ms`);
  } finally {
    if (!shutDown) await system.shutdown();
  }
});

test('an unhandled rejection or an uncaught exception inside a worker crashes that actor and it restarts', async () => {
  // Checks crash detection outside handlers: each fault must produce a 'crash' event naming its reason, and the
  // actor must be running again afterwards with restarts counted.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    for (const [type, reason] of [['leak-rejection', 'a rejection nobody handles'], ['throw-later', 'an exception outside any handler']]) {
      const crashed = once<{ reason: string }>(system, 'crash', 3_000);
      system.tell('counter', { type });
      assert.match((await crashed).reason, reason as string);
      await waitFor(async () => (await statusOf(system, 'counter')).state === 'running', 3_000, 'counter running again');
    }
    assert.is((await statusOf(system, 'counter')).restarts, 2);
  });
});

test('kill crashes an actor on request; asks meanwhile fail fast; a peer can reach it again after the restart', async () => {
  // Checks fault injection and re-wiring: after kill, an ask is refused at once (not at its deadline), and
  // once restarted the other worker reaches it over a fresh port.
  await withSystem(counterPair, async (system) => {
    assert.is(await system.ask('a', { type: 'forward', target: 'b', message: { type: 'increment' } }), 1);
    await system.kill('b');
    const startedMs = Date.now();
    const error = await rejection(system.ask('b', { type: 'get' }));
    assert.ok(isRuntimeError(error, 'ACTOR_UNAVAILABLE'), String(error));
    assert.ok(Date.now() - startedMs < 100);
    await waitFor(async () => (await statusOf(system, 'b')).state === 'running', 3_000, 'b running again');
    assert.is(await system.ask('a', { type: 'forward', target: 'b', message: { type: 'increment' } }), 1);
    assert.is(await system.ask('b', { type: 'forward', target: 'a', message: { type: 'get' } }), 0);
  });
});

test('a child restarting while a peer is still in init gets wired to that peer', async () => {
  // Checks re-wiring when restarts overlap: 'slow' takes 500 ms in init; while it is starting again, 'fast' is
  // killed and restarts. Once both run, each must reach the other directly (a missed pair would answer
  // ActorUnavailableError).
  await withSystem([
    { name: 'slow', module: counterModule, args: { initDelayMs: 500 } },
    { name: 'fast', module: counterModule },
  ], async (system) => {
    const slowRestarting = once(system, 'restart', 3_000);
    await system.kill('slow');
    await slowRestarting;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is((await statusOf(system, 'slow')).state, 'starting');
    await system.kill('fast');
    await waitFor(async () => (await system.status()).every((status) => status.state === 'running'), 5_000, 'both running');
    assert.is(await system.ask('fast', { type: 'forward', target: 'slow', message: { type: 'increment' } }), 1);
    assert.is(await system.ask('slow', { type: 'forward', target: 'fast', message: { type: 'increment' } }), 1);
  });
});

test('restart intensity exceeded escalates: the tree stops and onEscalate hears why', async () => {
  // Checks escalation: maxRestarts 2, three crashes in a row; the third must emit 'escalate', call
  // onEscalate, and leave every child stopped with no worker alive.
  const reasons: string[] = [];
  const system = await startSystem([
    { name: 'steady', module: counterModule },
    { name: 'fragile', module: counterModule },
  ], [], { maxRestarts: 2, withinMs: 10_000, onEscalate: (reason) => reasons.push(reason) });
  try {
    const escalated = once<EscalateEvent>(system, 'escalate', 5_000);
    for (let crash = 0; crash < 3; crash += 1) {
      await waitFor(async () => (await statusOf(system, 'fragile')).state === 'running', 3_000, 'fragile running');
      const exited = once(system, 'exit', 3_000);
      system.tell('fragile', { type: 'throw', message: `crash ${crash}` });
      await exited;
    }
    assert.match((await escalated).reason, 'fragile needed more than 2 restarts');
    assert.equal(reasons.length, 1);
    const statuses = await system.status();
    assert.ok(statuses.every((status) => !status.alive && status.state === 'stopped'), JSON.stringify(statuses));
  } finally {
    await system.shutdown();
  }
});

test('a child whose init fails on every restart escalates instead of looping', async () => {
  // Checks the start-up rule: after a flag file appears, each restart fails in init; with startupFailuresMax 2
  // the supervisor must escalate after two failed starts (well before maxRestarts 10).
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-runtime-'));
  const flag = join(directory, 'fail');
  const system = makeSystem([], { maxRestarts: 10, startupFailuresMax: 2 });
  try {
    await system.start([{ name: 'counter', module: counterModule, args: { failInitWhenFileExists: flag } }]);
    writeFileSync(flag, 'x');
    const escalated = once<EscalateEvent>(system, 'escalate', 5_000);
    await system.kill('counter');
    assert.match((await escalated).reason, 'counter failed to start 2 times in a row');
  } finally {
    await system.shutdown();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('start rejects when a child cannot init, and stops the children already started', async () => {
  // Checks OTP start semantics: the first child is up, the second refuses in init; start must reject with the
  // child's name and no worker may stay alive.
  const system = makeSystem([]);
  try {
    const error = await rejection(system.start([
      { name: 'good', module: counterModule },
      { name: 'bad', module: counterModule, args: { failInit: true } },
    ]));
    assert.match((error as Error).message, 'could not start bad');
    const statuses = await system.status();
    assert.ok(statuses.every((status) => !status.alive), JSON.stringify(statuses));
  } finally {
    await system.shutdown();
  }
});

test('graceful stop runs the stop hook and keeps the actor down until started again', async () => {
  // Checks stop/start: the stop hook's message reaches the main thread with the final count; the actor stays
  // stopped (asks fail fast, no restart); startActor brings it back with fresh state.
  const system = makeSystem([]);
  const messages: SystemMessageEvent[] = [];
  system.on('message', (event: SystemMessageEvent) => messages.push(event));
  try {
    await system.start([{ name: 'counter', module: counterModule }]);
    await system.ask('counter', { type: 'increment' });
    await system.stop('counter');
    assert.equal(messages, [{ from: 'counter', body: { type: 'stopping', name: 'counter', count: 1, reason: 'stop' } }]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = await statusOf(system, 'counter');
    assert.is(stopped.state, 'stopped');
    assert.not.ok(stopped.alive);
    assert.is(stopped.restarts, 0);
    assert.ok(isRuntimeError(await rejection(system.ask('counter', { type: 'get' })), 'ACTOR_UNAVAILABLE'));
    await system.startActor('counter');
    assert.is(await system.ask('counter', { type: 'get' }), 0);
    await system.shutdown();
    assert.equal(messages.at(-1), { from: 'counter', body: { type: 'stopping', name: 'counter', count: 0, reason: 'shutdown' } }, 'the hook is told the whole system is going down');
  } finally {
    await system.shutdown();
  }
});

test('isolate drops messages to and from an actor in both directions; heal restores them', async () => {
  // Checks a partition: while b is isolated, a's tells to b are dropped (b's count stays), b's asks out fail
  // fast, main-thread asks fail fast; after heal the same paths work again. The control plane still answers.
  await withSystem(counterPair, async (system) => {
    await system.isolate('b');
    await system.ask('a', { type: 'tell', target: 'b', message: { type: 'increment' } });
    assert.ok(isRuntimeError(await rejection(system.ask('b', { type: 'get' })), 'ACTOR_UNAVAILABLE'));
    const isolated = await statusOf(system, 'b');
    assert.ok(isolated.isolated && isolated.alive);
    assert.is((await statusOf(system, 'a')).dropped, 1);
    await system.heal('b');
    assert.is(await system.ask('b', { type: 'get' }), 0, 'the tell sent during the partition was dropped');
    await system.ask('a', { type: 'tell', target: 'b', message: { type: 'increment' } });
    await waitFor(async () => (await system.ask('b', { type: 'get' })) === 1, 2_000, 'the tell after heal');
    assert.is(await system.ask('b', { type: 'forward', target: 'a', message: { type: 'increment' } }), 1);
  });
});

test('a hung actor (busy loop) is caught by the watchdog, terminated and restarted', async () => {
  // Checks hang detection: the handler spins forever, so no ping is answered; within the watchdog timeout
  // (600 ms) plus an interval the supervisor must emit a crash with cause 'hang' and restart the actor.
  const lines: LogLine[] = [];
  const system = await startSystem([{ name: 'spinner', module: counterModule }], lines, { watchdogTimeoutMs: 600 });
  try {
    const crashed = once<{ cause: string }>(system, 'crash', 3_000);
    system.tell('spinner', { type: 'spin' });
    assert.is((await crashed).cause, 'hang');
    await waitFor(async () => (await statusOf(system, 'spinner')).state === 'running', 3_000, 'spinner running again');
    assert.is(await system.ask('spinner', { type: 'increment' }), 1);
    assert.ok(lines.some((line) => line.message.startsWith('watchdog: spinner has not answered')));
  } finally {
    await system.shutdown();
  }
});

test('a temporary child that crashes stays down; a transient one that is killed comes back', async () => {
  // Checks restart types through the real supervisor: after a crash the temporary child is stopped with no
  // restart, while the transient child killed at the same time is running again with restarts = 1.
  await withSystem([
    { name: 'once', module: counterModule, restart: 'temporary' },
    { name: 'again', module: counterModule, restart: 'transient' },
  ], async (system) => {
    system.tell('once', { type: 'throw', message: 'bye' });
    await system.kill('again');
    await waitFor(async () => (await statusOf(system, 'again')).state === 'running', 3_000, 'again running');
    await waitFor(async () => !(await statusOf(system, 'once')).alive, 3_000, 'once down');
    await new Promise((resolve) => setTimeout(resolve, 100)); // Longer than any backoff: a restart would show.
    const once = await statusOf(system, 'once');
    assert.is(once.state, 'stopped');
    assert.not.ok(once.alive);
    assert.is(once.restarts, 0);
    assert.is((await statusOf(system, 'again')).restarts, 1);
    system.tell('once', { type: 'get' });
    assert.is(system.systemCounters().deadLetters, 1);
  });
});

test('actor-provided status reaches the control plane', async () => {
  // Checks ActorDefinition.status: the counter reports its count in ActorStatus.custom.
  await withSystem([{ name: 'counter', module: counterModule }], async (system) => {
    await system.ask('counter', { type: 'increment' });
    const status = await statusOf(system, 'counter');
    assert.equal(status.custom, { count: 1 });
    assert.is(status.processed, 1);
  });
});

test.run();
