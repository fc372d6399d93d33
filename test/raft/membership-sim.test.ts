// The simulator's membership family: random membership changes (learners added from a pool of spares, promoted,
// members removed — the leader too) under every fault of the random family, through the production driver. The
// checks are those of every run (Election Safety: never two leaders in one term; Log Matching; Leader
// Completeness; State Machine Safety; no acknowledged write lost; liveness after healing) plus the commit quorum:
// every commit is held on disk by a majority of the voters of the leader's configuration, so a learner or a
// removed member never makes up a majority. The concurrentMembershipChanges bug (a second change proposed while the
// first is uncommitted, which thesis §4.1 forbids) must be found by the seed search, and the same seeds must be
// clean without it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSeeds } from '../../src/cli/sim.js';

const seedCountMax = 300;

test('the concurrentMembershipChanges bug is found within the membership seeds, which are clean without it', () => {
  const startedMs = performance.now();
  const found = runSeeds(1, seedCountMax, { concurrentMembershipChanges: true }, 'membership', true);
  assert.is(found.length, 1, `no seed of ${seedCountMax} exposed two concurrent membership changes`);
  const first = found[0]!;
  const searchMs = performance.now() - startedMs;
  const clean = runSeeds(1, seedCountMax, {}, 'membership');
  for (const failure of clean) console.log(`seed ${failure.seed}: ${failure.violation}\n  ${failure.scenario}\n  ${failure.trace.join('\n  ')}`);
  assert.is(clean.length, 0, 'a correct core failed a membership seed');
  console.log(`membership: bug found at seed ${first.seed} (${(first.violation ?? '').slice(0, 120)}) in ${searchMs.toFixed(0)} ms; ${seedCountMax} seeds clean without it`);
});

test.run();
