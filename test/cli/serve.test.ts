// What `pygmy start` and `pygmy node` share (src/cli/serve.ts), called directly: integer and port flags take what
// is in range and refuse the rest with a UsageError naming the flag; LOG_FORMAT picks the format only when it says
// pretty or json; an escalation stops the command and makes its exit code 1, a plain stop exits 0.
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escalationStop, integerFlag, logFormatOptions, portFlag } from '../../src/cli/serve.js';
import { UsageError } from '../../src/cli/usage-error.js';

test('integer and port flags take what is in range and name the flag otherwise', () => {
  assert.is(integerFlag(undefined, '--tick-ms', 50, 5), 50);
  assert.is(integerFlag('7', '--tick-ms', 50, 5), 7);
  for (const wrong of ['4', 'x', '1.5', '']) {
    assert.throws(() => integerFlag(wrong, '--tick-ms', 50, 5), (error: unknown) => error instanceof UsageError && /--tick-ms must be an integer ≥ 5/.test(error.message), wrong);
  }
  assert.is(portFlag('0', '--ops-port'), 0);
  assert.is(portFlag('65535', '--ops-port'), 65_535);
  for (const wrong of ['65536', '-1', 'abc']) {
    assert.throws(() => portFlag(wrong, '--ops-port'), (error: unknown) => error instanceof UsageError && /--ops-port must be a port number/.test(error.message), wrong);
  }
});

test('LOG_FORMAT chooses pretty or JSON, and leaves the default otherwise', () => {
  assert.equal(logFormatOptions({ LOG_FORMAT: 'pretty' }), { pretty: true });
  assert.equal(logFormatOptions({ LOG_FORMAT: 'json' }), { pretty: false });
  assert.equal(logFormatOptions({ LOG_FORMAT: 'yaml' }), {});
  assert.equal(logFormatOptions({}), {});
});

test('an escalation stops the command with exit code 1; a stop without one exits 0', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  let closed = 0;
  const escalated = escalationStop(logger);
  const serving = escalated.serve(async () => {
    closed += 1;
  });
  escalated.onEscalate('catalog-1 restarted too often');
  assert.is(await serving.exited, 1);
  assert.is(closed, 1);
  assert.ok(lines.some((line) => line.includes('supervisor gave up: catalog-1 restarted too often')), lines.join(''));
  const calm = escalationStop(logger).serve(async () => undefined);
  await calm.stop();
  assert.is(await calm.exited, 0);
});

test.run();
