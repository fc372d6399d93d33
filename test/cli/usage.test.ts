// The `pygmy` command called wrongly: each mistake is one line naming the command and the mistake, exit code 2,
// and never a stack trace. Runs the built CLI in child processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPygmy } from '../support/run-script.js';

const mistakes: Array<{ args: string[]; says: RegExp }> = [
  { args: ['start', '--bogus'], says: /^pygmy start: Unknown option '--bogus'/ },
  { args: ['start', '--port', 'abc'], says: /^pygmy start: --port must be an integer/ },
  { args: ['start', '--catalog', '/nonexistent/catalog.json'], says: /^pygmy start: --catalog \/nonexistent\/catalog.json: ENOENT/ },
  { args: ['node', '--bogus'], says: /^pygmy node: Unknown option '--bogus'/ },
  { args: ['node', '--config', '/nonexistent/cluster.json', '--node', 'a'], says: /^pygmy node: --config \/nonexistent\/cluster.json: ENOENT/ },
  { args: ['sim', '--seeds', 'x'], says: /^pygmy sim: --seeds must be a positive integer/ },
  { args: ['check', '--duration', 'x'], says: /^pygmy check: --duration must be an integer/ },
];

for (const { args, says } of mistakes) {
  test(`pygmy ${args.join(' ')}: one line, exit 2, no stack`, async () => {
    const { code, output } = await runPygmy(args);
    assert.is(code, 2, output);
    assert.match(output, says);
    assert.not.match(output, /^\s+at /m, `a stack trace was printed:\n${output}`);
  });
}

test('--help of each command prints its usage and exits 0', async () => {
  for (const command of ['start', 'node', 'sim', 'check', 'bench']) {
    const { code, output } = await runPygmy([command, '--help']);
    assert.is(code, 0, `${command}: ${output}`);
    assert.match(output, new RegExp(`^usage: pygmy ${command}`), command);
  }
});

test.run();
