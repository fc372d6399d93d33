// The supervisor's decisions, tested as a pure function without threads or clocks.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backoffDelayMs,
  createPolicyState,
  policyStep,
  shouldRestart,
  type PolicyAction,
  type PolicyConfig,
  type PolicyEvent,
  type PolicyState,
} from '../../src/runtime/supervisor-policy.js';

const config: PolicyConfig = { maxRestarts: 3, withinMs: 10_000, backoffInitialMs: 100, backoffMaxMs: 1_000, startupFailuresMax: 2 };

/** Feeds events at the given times and collects every action, in order. */
function run(events: Array<[PolicyEvent, number]>, state: PolicyState = createPolicyState(config)): { state: PolicyState; actions: PolicyAction[] } {
  const actions: PolicyAction[] = [];
  for (const [event, nowMs] of events) {
    const step = policyStep(state, event, nowMs);
    state = step.state;
    actions.push(...step.actions);
  }
  return { state, actions };
}

const added = (restartType: 'permanent' | 'transient' | 'temporary'): [PolicyEvent, number] => [{ type: 'child-added', name: 'x', restartType }, 0];
const crashed = (nowMs: number, phase: 'startup' | 'running' = 'running'): [PolicyEvent, number] => [{ type: 'child-exited', name: 'x', cause: 'crash', phase }, nowMs];
const started = (nowMs: number): [PolicyEvent, number] => [{ type: 'child-started', name: 'x' }, nowMs];

test('restart types follow OTP: permanent always, transient only on abnormal exit, temporary never', () => {
  // Checks the restart table for every cause, including a normal exit.
  assert.ok(shouldRestart('permanent', 'normal'));
  assert.ok(shouldRestart('permanent', 'crash'));
  assert.not.ok(shouldRestart('transient', 'normal'));
  assert.ok(shouldRestart('transient', 'hang'));
  assert.ok(shouldRestart('transient', 'killed'));
  assert.not.ok(shouldRestart('temporary', 'crash'));
  const temporary = run([added('temporary'), crashed(1)]);
  assert.equal(temporary.actions, [{ type: 'keep-down', name: 'x', reason: 'temporary child exited (crash)' }]);
});

test('backoff doubles with each restart in the window and is capped', () => {
  // Checks the delays of consecutive crashes: 100, 200, 400 ms, and the cap for a long streak.
  const { actions } = run([added('permanent'), crashed(1), started(2), crashed(3), started(4), crashed(5)]);
  assert.equal(actions.map((action) => (action.type === 'restart' ? action.delayMs : -1)), [100, 200, 400]);
  assert.is(backoffDelayMs(config, 50), 1_000);
});

test('more than maxRestarts restarts within the window escalates; older restarts fall out of the window', () => {
  // Checks restart intensity: a fourth crash within 10 s escalates, but four crashes spread over more than
  // 10 s do not, and after escalation every further event is ignored.
  const burst = run([added('permanent'), crashed(0), crashed(1_000), crashed(2_000), crashed(3_000)]);
  assert.equal(burst.actions.map((action) => action.type), ['restart', 'restart', 'restart', 'escalate']);
  assert.ok(burst.state.escalated);
  assert.equal(policyStep(burst.state, crashed(4_000)[0], 4_000).actions, []);
  const spread = run([added('permanent'), crashed(0), crashed(4_000), crashed(8_000), crashed(12_000)]);
  assert.equal(spread.actions.map((action) => action.type), ['restart', 'restart', 'restart', 'restart']);
  assert.not.ok(spread.state.escalated);
});

test('a child failing during start-up escalates after startupFailuresMax attempts; a good start resets the count', () => {
  // Checks the piscina lesson: init failures are not replaced forever; the window alone would allow 3.
  const failing = run([added('permanent'), crashed(0), crashed(10, 'startup'), crashed(20, 'startup')]);
  assert.equal(failing.actions.map((action) => action.type), ['restart', 'restart', 'escalate']);
  const recovered = run([added('permanent'), crashed(0, 'startup'), started(5), crashed(5_000, 'startup')]);
  assert.equal(recovered.actions.map((action) => action.type), ['restart', 'restart']);
});

test('the policy does not mutate its input state and rejects bad configuration', () => {
  // Checks purity (the old state is unchanged after a step) and the assertions at construction.
  const before = run([added('permanent')]).state;
  const snapshot = JSON.stringify(before);
  policyStep(before, crashed(1)[0], 1);
  assert.is(JSON.stringify(before), snapshot);
  assert.throws(() => createPolicyState({ ...config, backoffMaxMs: 10 }), /backoffMaxMs/);
  assert.throws(() => createPolicyState({ ...config, startupFailuresMax: 0 }), /startupFailuresMax/);
  assert.throws(() => policyStep(before, { type: 'child-started', name: 'ghost' }, 0), /unknown child/);
});

test.run();
