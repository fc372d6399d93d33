// The timeouts of a request fit inside its one deadline, checked once at start-up (src/http/timeouts.ts): the
// defaults pass; a step as long as the deadline or longer (the saga, the cache's read, an attempt on a replica)
// is refused with a message naming both values; and a cluster so configured does not start at all — it fails
// before it touches its data directory or spawns an actor.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startCluster } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { checkTimeouts, timeoutsDefault, timeoutsProblems, TimeoutsError } from '../../src/http/timeouts.js';
import { makeDataDir, removeDataDir } from '../support/pygmy-process.js';

test('the default timeouts fit inside the default request deadline', () => {
  assert.equal(timeoutsProblems(timeoutsDefault), []);
  assert.is(checkTimeouts(timeoutsDefault), timeoutsDefault);
});

test('a saga longer than the request deadline is refused, naming both values', () => {
  const problems = timeoutsProblems({ ...timeoutsDefault, requestDeadlineMs: 3_000 });
  assert.is(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /sagaDeductMs = 4000 ms\) must be shorter than the request deadline \(requestDeadlineMs = 3000 ms\)/);
  assert.match(problems[1]!, /cacheReadMs = 4000 ms/);
  assert.throws(() => checkTimeouts({ ...timeoutsDefault, sagaDeductMs: 5_000 }), (error: unknown) => error instanceof TimeoutsError && /sagaDeductMs = 5000/.test(error.message));
});

test('every step is held to the deadline, equal included; bad numbers are named', () => {
  for (const name of ['sagaDeductMs', 'cacheReadMs', 'catalogAttemptMs', 'orderAttemptMs'] as const) {
    const problems = timeoutsProblems({ ...timeoutsDefault, [name]: timeoutsDefault.requestDeadlineMs });
    assert.is(problems.length, 1, `${name}: ${problems.join('; ')}`);
    assert.ok(problems[0]!.includes(name));
  }
  assert.match(timeoutsProblems({ ...timeoutsDefault, requestDeadlineMs: 1_000 }).join('; '), /confirmation of a write/);
  assert.match(timeoutsProblems({ ...timeoutsDefault, cacheReadMs: -1 }).join('; '), /cacheReadMs must be a positive integer/);
  assert.match(timeoutsProblems({ ...timeoutsDefault, orderAttemptMs: 1.5 }).join('; '), /orderAttemptMs must be a positive integer/);
});

test('a cluster whose saga does not fit in its request deadline fails start-up before it starts anything', async () => {
  // fresh: true would wipe the data directory first: the marker file shows the check came before that.
  const dataDir = makeDataDir();
  const marker = join(dataDir, 'marker');
  writeFileSync(marker, 'still here');
  const logger = createLogger({ level: 'silent', pretty: false, destination: { write: () => true } });
  try {
    const started = Date.now();
    let refused: unknown = null;
    await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, requestDeadlineMs: 4_000, timeouts: { cacheReadMs: 3_000 } })
      .then((cluster) => cluster.close(), (error: unknown) => { refused = error; });
    assert.instance(refused, TimeoutsError);
    assert.match((refused as Error).message, /sagaDeductMs = 4000 ms\) must be shorter than the request deadline \(requestDeadlineMs = 4000 ms\)/);
    assert.ok(existsSync(marker), 'the data directory was not touched');
    assert.ok(Date.now() - started < 2_000, 'refused at once, not after starting replicas');
  } finally {
    removeDataDir(dataDir);
  }
});

test.run();
