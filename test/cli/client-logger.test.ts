// The logger the client and every other command use: pretty lines for people, JSON lines for machines.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, formatClock, formatPrettyLine } from '../../src/cli/logger.js';

function collector() {
  const lines: string[] = [];
  return { lines, destination: { write: (text: string) => void lines.push(text) } };
}

test('pretty output is one readable line per event, with the level and extra fields', () => {
  // Logs through a pretty logger into an array and checks the shape of the line.
  const { lines, destination } = collector();
  const logger = createLogger({ pretty: true, level: 'debug', destination });
  logger.info('catalog-3 became leader for term 3 with 2/3 votes');
  logger.debug({ item: 3, index: 42 }, 'invalidate item 3 at index 42');
  assert.is(lines.length, 2);
  assert.match(lines[0] as string, /^\d\d:\d\d:\d\d\.\d{3} INFO  catalog-3 became leader for term 3 with 2\/3 votes\n$/);
  assert.match(lines[1] as string, /^\d\d:\d\d:\d\d\.\d{3} DEBUG invalidate item 3 at index 42 item=3 index=42\n$/);
});

test('JSON output is the default away from a TTY, with the level from options and the name bound', () => {
  // A JSON logger at warn drops info and writes warn as a parsable line carrying its name.
  const { lines, destination } = collector();
  const logger = createLogger({ pretty: false, level: 'warn', name: 'gateway', destination });
  logger.info('not shown');
  logger.warn('lookup/1: unavailable');
  assert.is(lines.length, 1);
  const event = JSON.parse(lines[0] as string);
  assert.is(event.msg, 'lookup/1: unavailable');
  assert.is(event.level, 40);
  assert.is(event.name, 'gateway');
});

test('the formatter keeps unparsable lines and prints the clock with milliseconds', () => {
  // A line that is not JSON passes through; a known instant formats as HH:MM:SS.mmm in local time.
  assert.is(formatPrettyLine('plain text'), 'plain text\n');
  const instant = new Date(2020, 3, 26, 3, 2, 43, 516).getTime();
  assert.is(formatClock(instant), '03:02:43.516');
  assert.match(formatPrettyLine(JSON.stringify({ level: 50, time: instant, msg: 'boom', name: 'order-2' })), '03:02:43.516 ERROR boom (order-2)');
});

test.run();
