// The `pygmy` command called wrongly: each mistake is one line naming the command and the mistake, exit code 2,
// and never a stack trace. Runs the built CLI in child processes.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const cliPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function runCli(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

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
    const { code, output } = await runCli(args);
    assert.is(code, 2, output);
    assert.match(output, says);
    assert.not.match(output, /^\s+at /m, `a stack trace was printed:\n${output}`);
  });
}

test('--help of each command prints its usage and exits 0', async () => {
  for (const command of ['start', 'node', 'sim', 'check', 'bench']) {
    const { code, output } = await runCli([command, '--help']);
    assert.is(code, 0, `${command}: ${output}`);
    assert.match(output, new RegExp(`^usage: pygmy ${command}`), command);
  }
});

test.run();
