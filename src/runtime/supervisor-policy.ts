// Supervisor decisions as a pure function: (state, event, nowMs) → { state, actions }.
//
// Owns: restart types, restart intensity, backoff and the start-up failure rule. Promises: no I/O, no clock of
// its own, no mutation of its input; the same inputs give the same outputs. The ActorSystem feeds it events
// and carries out the actions. Rules, after Erlang/OTP one-for-one supervisors and piscina:
// - permanent children are always restarted, transient ones only after an abnormal exit, temporary never;
// - more than maxRestarts restarts within withinMs escalates (the whole tree stops);
// - the delay before a restart doubles with each restart in the window, from backoffInitialMs to backoffMaxMs;
// - a child whose init() fails startupFailuresMax times in a row escalates instead of looping.

import { assert, assertNever } from './errors.js';

export type RestartType = 'permanent' | 'transient' | 'temporary';

/** crash: uncaught error or abnormal worker exit; hang: missed watchdog pings; killed: fault injection. */
export type ExitCause = 'crash' | 'hang' | 'killed' | 'normal';

export interface PolicyConfig {
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly startupFailuresMax: number;
}

export interface ChildPolicyState {
  readonly restartType: RestartType;
  /** Times of restarts inside the intensity window, oldest first; at most maxRestarts + 1 entries. */
  readonly restartTimesMs: readonly number[];
  readonly startupFailures: number;
}

export interface PolicyState {
  readonly config: PolicyConfig;
  readonly children: Readonly<Record<string, ChildPolicyState>>;
  readonly escalated: boolean;
}

export type PolicyEvent =
  | { readonly type: 'child-added'; readonly name: string; readonly restartType: RestartType }
  | { readonly type: 'child-started'; readonly name: string }
  | { readonly type: 'child-exited'; readonly name: string; readonly cause: ExitCause; readonly phase: 'startup' | 'running' };

export type PolicyAction =
  | { readonly type: 'restart'; readonly name: string; readonly delayMs: number; readonly restartsInWindow: number }
  | { readonly type: 'keep-down'; readonly name: string; readonly reason: string }
  | { readonly type: 'escalate'; readonly reason: string };

export interface PolicyStep {
  readonly state: PolicyState;
  readonly actions: readonly PolicyAction[];
}

export function createPolicyState(config: PolicyConfig): PolicyState {
  assert(Number.isInteger(config.maxRestarts) && config.maxRestarts >= 0, 'maxRestarts must be a whole number', config);
  assert(config.withinMs > 0, 'withinMs must be positive', config);
  assert(config.backoffInitialMs >= 0, 'backoffInitialMs must not be negative', config);
  assert(config.backoffMaxMs >= config.backoffInitialMs, 'backoffMaxMs must be at least backoffInitialMs', config);
  assert(Number.isInteger(config.startupFailuresMax) && config.startupFailuresMax >= 1, 'startupFailuresMax must be at least 1', config);
  return { config, children: {}, escalated: false };
}

export function policyStep(state: PolicyState, event: PolicyEvent, nowMs: number): PolicyStep {
  if (state.escalated) return { state, actions: [] };
  switch (event.type) {
    case 'child-added':
      return withChild(state, event.name, { restartType: event.restartType, restartTimesMs: [], startupFailures: 0 }, []);
    case 'child-started': {
      const child = requireChild(state, event.name);
      return withChild(state, event.name, { ...child, startupFailures: 0 }, []);
    }
    case 'child-exited':
      return onExit(state, event.name, event.cause, event.phase, nowMs);
    default:
      return assertNever(event, 'supervisor policy event');
  }
}

export function shouldRestart(restartType: RestartType, cause: ExitCause): boolean {
  switch (restartType) {
    case 'permanent':
      return true;
    case 'transient':
      return cause !== 'normal';
    case 'temporary':
      return false;
    default:
      return assertNever(restartType, 'restart type');
  }
}

export function backoffDelayMs(config: PolicyConfig, restartsInWindow: number): number {
  assert(restartsInWindow >= 1, 'backoff is computed for a restart that is happening', { restartsInWindow });
  const exponent = Math.min(restartsInWindow - 1, 30); // 2^30 already exceeds any sane backoffMaxMs.
  return Math.min(config.backoffMaxMs, config.backoffInitialMs * 2 ** exponent);
}

function onExit(state: PolicyState, name: string, cause: ExitCause, phase: 'startup' | 'running', nowMs: number): PolicyStep {
  const child = requireChild(state, name);
  const { config } = state;
  const startupFailures = phase === 'startup' ? child.startupFailures + 1 : 0;
  if (!shouldRestart(child.restartType, cause)) {
    const reason = `${child.restartType} child exited (${cause})`;
    return withChild(state, name, { ...child, startupFailures }, [{ type: 'keep-down', name, reason }]);
  }
  if (startupFailures >= config.startupFailuresMax) {
    const reason = `${name} failed to start ${startupFailures} times in a row`;
    return escalate(state, name, { ...child, startupFailures }, reason);
  }
  const windowStartMs = nowMs - config.withinMs;
  const restartTimesMs = [...child.restartTimesMs.filter((timeMs) => timeMs > windowStartMs), nowMs];
  if (restartTimesMs.length > config.maxRestarts) {
    const reason = `${name} needed more than ${config.maxRestarts} restarts in ${config.withinMs} ms`;
    return escalate(state, name, { ...child, restartTimesMs, startupFailures }, reason);
  }
  const delayMs = backoffDelayMs(config, restartTimesMs.length);
  const next: ChildPolicyState = { ...child, restartTimesMs, startupFailures };
  return withChild(state, name, next, [{ type: 'restart', name, delayMs, restartsInWindow: restartTimesMs.length }]);
}

function escalate(state: PolicyState, name: string, child: ChildPolicyState, reason: string): PolicyStep {
  const next = withChild(state, name, child, [{ type: 'escalate', reason }]);
  return { state: { ...next.state, escalated: true }, actions: next.actions };
}

function withChild(state: PolicyState, name: string, child: ChildPolicyState, actions: PolicyAction[]): PolicyStep {
  assert(child.restartTimesMs.length <= state.config.maxRestarts + 1, 'restart window holds at most maxRestarts + 1 times', { name });
  return { state: { ...state, children: { ...state.children, [name]: child } }, actions };
}

function requireChild(state: PolicyState, name: string): ChildPolicyState {
  const child = state.children[name];
  assert(child !== undefined, 'supervisor policy event for an unknown child', { name });
  return child;
}
