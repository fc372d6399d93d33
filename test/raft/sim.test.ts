// Tests of the deterministic Raft simulator: a clean run over many seeds finds nothing, the same seed replays the
// same run, and each deliberate bug in the core is found within a bounded seed search (so the checker can fail).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSeeds } from '../../src/cli/sim.js';
import { randomScenario } from '../../src/raft/sim/scenario.js';
import { runSimulation } from '../../src/raft/sim/simulation.js';

test('300 seeds of faults (loss, duplication, reordering, partitions, crashes) give no violation and every liveness phase commits', () => {
  // Runs seeds 1..300 through the full checker (Election Safety, Log Matching, Leader Completeness, State Machine
  // Safety, linearizable reads, liveness after healing); any violation is printed and fails the test.
  const failures = runSeeds(1, 300);
  for (const failure of failures) console.log(`seed ${failure.seed}: ${failure.violation}\n  ${failure.scenario}\n  ${failure.trace.join('\n  ')}`);
  assert.is(failures.length, 0);
});

test('the same seed gives the same run', () => {
  // Runs seed 42 twice and compares the trace, the tick count and the amount of work done.
  const first = runSimulation(randomScenario(42));
  const second = runSimulation(randomScenario(42));
  assert.equal(second.trace, first.trace);
  assert.is(second.committed, first.committed);
  assert.is(second.readsServed, first.readsServed);
  assert.ok(first.committed > 50, `the run committed only ${first.committed} entries`);
  assert.ok(first.readsServed > 0, 'the run served no read');
});

test('the deliberate bug voteTwice is caught (Election Safety) within 300 seeds', () => {
  // Switches on a core that grants two votes in one term and expects the search to report a violation.
  const failures = runSeeds(1, 300, { voteTwice: true }, false, true);
  assert.is(failures.length, 1, 'no seed exposed the double vote');
});

test('the deliberate bug followerReadWithoutReadIndex is caught (linearizable reads) within 300 seeds', () => {
  // Switches on followers that answer reads at their own commit index and expects a stale read to be reported.
  const failures = runSeeds(1, 300, { followerReadWithoutReadIndex: true }, false, true);
  assert.is(failures.length, 1, 'no seed exposed the stale follower read');
  assert.match(failures[0]!.violation!, /linearizable read/);
});

test.run();
