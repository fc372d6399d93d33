// The `pygmy` command as people type it: `pygmy --version` prints package.json's version; `pygmy --help` lists
// every command module of src/cli with one line each; `pygmy client` without a URL talks to the gateway's default
// address http://127.0.0.1:34800 (checked by catching the request, so no real port 34800 is needed).
import { readdirSync, readFileSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultUrl, main as client } from '../../src/cli/client.js';
import { runPygmy, type ScriptRun } from '../support/run-script.js';

const cliDirectory = fileURLToPath(new URL('../../src/cli/', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `pygmy ...args` with `env` laid over this process's environment, PYGMY_CLUSTER_SECRET left out unless given. */
function runCli(args: string[], env: Record<string, string> = {}): Promise<ScriptRun> {
  const environment = { ...process.env, ...env };
  if (!('PYGMY_CLUSTER_SECRET' in env)) delete environment.PYGMY_CLUSTER_SECRET;
  return runPygmy(args, { env: environment });
}

/** The command modules: every file of src/cli that exports `main`, except main itself. */
function commandModules(): string[] {
  return readdirSync(cliDirectory)
    .filter((file) => file.endsWith('.js') && file !== 'main.js')
    .filter((file) => /export async function main\(/.test(readFileSync(`${cliDirectory}${file}`, 'utf8')))
    .map((file) => file.replace(/\.js$/, ''))
    .sort();
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('pygmy --version and -v print the version of package.json and exit 0', async () => {
  for (const flag of ['--version', '-v']) {
    const { code, stdout } = await runCli([flag]);
    assert.is(code, 0);
    assert.is(stdout, `pygmy ${packageVersion}\n`);
  }
});

test('pygmy --help lists every command module with one line each, and exits 0', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.is(code, 0);
  const commandLines = stdout.split('\n').filter((line) => /^ {2}pygmy \S/.test(line));
  const listed = commandLines.map((line) => line.trim().split(/\s+/)[1]!).sort();
  const modules = commandModules();
  assert.ok(modules.length >= 6, `found only ${modules.join(', ')}`);
  assert.equal(listed, modules, 'each command module has exactly one line in --help');
  for (const line of commandLines) {
    assert.ok(line.length <= 120, `too long for one terminal line: ${line}`);
    assert.match(line, /^ {2}pygmy \S+ +\S/, `no description: ${line}`);
  }
  const { code: bareCode, stdout: bare } = await runCli([]);
  assert.is(bareCode, 1, 'pygmy alone prints the usage and exits 1');
  assert.is(bare, stdout);
});

test(`pygmy client without a URL talks to ${'http://127.0.0.1:34800'}; a URL given first still wins`, async () => {
  assert.is(defaultUrl, 'http://127.0.0.1:34800');
  const requested: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL | Request) => {
    requested.push(String(input instanceof Request ? input.url : input));
    return new Response('{"ok":true}', { status: 200 });
  }) as typeof fetch;
  try {
    const io = () => ({ input: new PassThrough(), output: new Capture(), errorOutput: new Capture(), timeoutMs: 1_000 });
    assert.is(await client(['lookup', '3'], io()), 0);
    assert.is(await client(['buy', '3', '2'], io()), 0);
    assert.is(await client(['http://127.0.0.2:8080', 'lookup', '4'], io()), 0);
    const interactive = io();
    interactive.input.end('list\nquit\n');
    assert.is(await client([], interactive), 0);
    assert.match(interactive.output.text, /\(http:\/\/127\.0\.0\.1:34800\)/);
    assert.equal(requested, [
      'http://127.0.0.1:34800/lookup/3',
      'http://127.0.0.1:34800/order/3?amount=2',
      'http://127.0.0.2:8080/lookup/4',
      'http://127.0.0.1:34800/lookup',
    ]);
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('pygmy client with a first word that is neither a command nor a URL says so and exits 2', async () => {
  const errorOutput = new Capture();
  const code = await client(['localhost:34800', 'lookup', '1'], { input: new PassThrough(), output: new Capture(), errorOutput, timeoutMs: 1_000 });
  assert.is(code, 2);
  assert.match(errorOutput.text, /"localhost:34800" is neither a command nor an http:\/\/ or https:\/\/ URL/);
});

test('pygmy node with a short cluster secret, or none beyond loopback, says so in one line and exits 2', async () => {
  // The compose layout listens on 0.0.0.0 inside each container: a secret is required there, of 16 bytes or more.
  const config = fileURLToPath(new URL('../../../examples/cluster-compose.json', import.meta.url));
  const args = ['node', '--config', config, '--node', 'catalog-1', '--listen-host', '0.0.0.0'];
  const short = await runCli(args, { PYGMY_CLUSTER_SECRET: 'abc' });
  assert.is(short.code, 2, short.stderr);
  assert.match(short.stderr, /^pygmy node: the cluster secret \(PYGMY_CLUSTER_SECRET or the config's secretFile\) must be at least 16 bytes, got 3/);
  const none = await runCli(args);
  assert.is(none.code, 2, none.stderr);
  assert.match(none.stderr, /^pygmy node: refusing to listen on 0\.0\.0\.0 without a cluster secret/);
  for (const output of [short.stderr, none.stderr]) assert.not.match(output, /^\s+at /m, `a stack trace was printed:\n${output}`);
});

test.run();
