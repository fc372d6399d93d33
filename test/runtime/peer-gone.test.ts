// An actor that defines peerGoneMessage hears, through its own mailbox, of each peer whose thread ended. Checked
// by killing one peer and isolating another: the kill must be reported and the partition must not (links stay up).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { counterModule, makeSystem, waitFor, type LogLine } from './helpers.js';

const watcherModule = new URL('./fixtures/watcher.js', import.meta.url);

test('a killed peer is reported once to the watcher; an isolated one is not', async () => {
  const lines: LogLine[] = [];
  const system = makeSystem(lines);
  try {
    await system.start([
      { name: 'watcher', module: watcherModule },
      { name: 'victim', module: counterModule },
      { name: 'bystander', module: counterModule },
    ]);
    await system.isolate('bystander');
    await system.kill('victim');
    let gone: string[] = [];
    await waitFor(async () => {
      gone = await system.ask<string[]>('watcher', { type: 'list' });
      return gone.length > 0;
    }, 5_000, 'the report of the killed peer');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await system.ask<string[]>('watcher', { type: 'list' }), ['victim']);
  } finally {
    await system.shutdown();
  }
});

test.run();
