// Checks that the test harness itself runs: a compiled uvu file is found, run and counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('arithmetic works in the test harness', () => {
  assert.is(1 + 1, 2);
});

test.run();
