import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRuntimeError } from '../../src/runtime/errors.js';
import { counterModule, makeSystem, sequenceModule, type LogLine } from './helpers.js';

test('ask from the main thread reaches an actor in its worker and returns its answer', async () => {
  // Checks the basic round trip: three increments through ask must answer 1, 2, 3 in order.
  const lines: LogLine[] = [];
  const system = makeSystem(lines);
  try {
    await system.start([{ name: 'counter', module: counterModule }]);
    assert.is(await system.ask('counter', { type: 'increment' }), 1);
    assert.is(await system.ask('counter', { type: 'increment' }), 2);
    assert.is(await system.ask('counter', { type: 'increment' }), 3);
  } finally {
    await system.shutdown();
  }
});

test.run();
