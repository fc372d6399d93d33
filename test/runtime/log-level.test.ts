// Records below the main logger's level are dropped inside the worker. Checked by running an actor that logs at
// debug, info and warn under a logger that reports which levels it writes (as pino's isLevelEnabled does), and,
// as the control that shows the check can fail, under a logger that says nothing about levels (all forwarded).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../../src/runtime/actor.js';
import { capturingLogger, makeSystem, waitFor, type LogLine } from './helpers.js';

const chattyModule = new URL('./fixtures/chatty.js', import.meta.url);
const ranks: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The levels of the fixture's lines that reached the main logger; `minimum` null: the logger states no level. */
async function levelsReceived(minimum: string | null): Promise<string[]> {
  const lines: LogLine[] = [];
  const capturing = capturingLogger(lines);
  const logger: Logger = minimum === null ? capturing : ({ ...capturing, isLevelEnabled: (level: string) => (ranks[level] ?? 0) >= ranks[minimum]! } as Logger);
  const system = makeSystem(lines, { logger });
  try {
    await system.start([{ name: 'chatty', module: chattyModule }]);
    await system.ask('chatty', { type: 'speak' });
    // Log notices travel on the worker's parent port, the answer on the data port: wait for the last line.
    await waitFor(() => lines.some((line) => line.message === 'chatty: warn line'), 5_000, 'the warn line');
    return lines.filter((line) => line.message.startsWith('chatty:')).map((line) => line.level);
  } finally {
    await system.shutdown();
  }
}

test('a logger at level info never receives the debug line; info and warn arrive', async () => {
  assert.equal(await levelsReceived('info'), ['info', 'warn']);
});

test('control: a logger that does not say its level receives every line, debug included', async () => {
  assert.equal(await levelsReceived(null), ['debug', 'info', 'warn']);
});

test.run();
