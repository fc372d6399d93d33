// The admin rule in real processes: in `pygmy start` with PYGMY_ADMIN_TOKEN set and the gateway on loopback,
// kill, invalidation and price changes need the token (they used to be open on loopback); `--admin off` turns
// the operations routes off whatever the token, in `pygmy start` and in `pygmy node`, while /health, /ready and
// the shop keep answering; a bad --admin value is a usage error. Each process is stopped and its data dir
// removed.

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, makeTempDir, writeLayout } from '../support/multihost.js';
import { http, removeDataDir, startPygmy } from '../support/pygmy-process.js';

const test = suite('admin rule in pygmy start');
const token = 'process-token-1b9e';

test('with a token set, loopback is no exemption: kill, invalidate and price need the token', async () => {
  const pygmy = await startPygmy({ env: { PYGMY_ADMIN_TOKEN: token } });
  try {
    const bearer = { authorization: `Bearer ${token}` };
    assert.is((await http('POST', `${pygmy.url}/admin/actors/order-2/kill`)).status, 401);
    assert.is((await http('POST', `${pygmy.url}/invalidate/item/1`)).status, 401);
    assert.is((await http('POST', `${pygmy.url}/admin/items/1`, { body: '{"price":1.5}' })).status, 401);
    assert.is((await http('GET', `${pygmy.url}/lookup/1`)).json().result.price, 19.9, 'a refused price change changed the price');
    assert.is((await http('GET', `${pygmy.url}/cluster`, { headers: { authorization: `Bearer ${token}-` } })).status, 401);
    assert.is((await http('GET', `${pygmy.url}/cluster`, { headers: bearer })).status, 200);
    assert.is((await http('GET', `${pygmy.url}/health`)).status, 200);
    assert.is((await http('GET', `${pygmy.url}/ready`)).status, 200);
  } finally {
    await pygmy.stop();
    removeDataDir(pygmy.dataDir);
  }
});

test('--admin off: operations routes are 403 even with the right token; probes and shop answer', async () => {
  const pygmy = await startPygmy({ args: ['--admin', 'off'], env: { PYGMY_ADMIN_TOKEN: token } });
  try {
    const bearer = { authorization: `Bearer ${token}` };
    for (const [method, path] of [['GET', '/cluster'], ['GET', '/metrics'], ['GET', '/events'], ['POST', '/admin/actors/order-2/kill'], ['POST', '/invalidate/item/1'], ['GET', '/']]) {
      assert.is((await http(method!, `${pygmy.url}${path}`, { headers: bearer })).status, 403, `${method} ${path}`);
    }
    assert.is((await http('GET', `${pygmy.url}/health`)).status, 200);
    assert.is((await http('GET', `${pygmy.url}/ready`)).status, 200);
    assert.is((await http('GET', `${pygmy.url}/lookup/1`)).status, 200);
  } finally {
    await pygmy.stop();
    removeDataDir(pygmy.dataDir);
  }
});

test('pygmy node --admin off: operations routes are 403 even with the right token; probes and shop answer', async () => {
  // One node holds every actor and the gateway (the layout's second node never starts and is not needed).
  const directory = makeTempDir('pygmy-admin-node-');
  const config = writeLayout(directory, [
    { name: 'solo', host: '127.0.0.1', port: await freePort(), actors: ['catalog-1', 'catalog-2', 'catalog-3', 'order-1', 'order-2', 'order-3', 'cache'], gateway: { host: '127.0.0.1', port: 0 } },
    { name: 'spare', host: '127.0.0.1', port: await freePort(), actors: [] },
  ]);
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'node', '--config', config, '--node', 'solo', '--data-dir', join(directory, 'solo'), '--admin', 'off'], {
    env: { ...process.env, PYGMY_ADMIN_TOKEN: token, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const startedAt = Date.now();
    while (!/pygmy: ready at (\S+)/.test(output) && child.exitCode === null && Date.now() - startedAt < 30_000) await new Promise((resolve) => setTimeout(resolve, 50));
    const url = /pygmy: ready at (\S+)/.exec(output)?.[1];
    assert.ok(url !== undefined, `pygmy node did not get ready:\n${output.slice(-2000)}`);
    const bearer = { authorization: `Bearer ${token}` };
    for (const [method, path] of [['GET', '/cluster'], ['GET', '/metrics'], ['POST', '/admin/actors/order-2/kill'], ['POST', '/invalidate/item/1']]) {
      assert.is((await http(method!, `${url}${path}`, { headers: bearer })).status, 403, `${method} ${path}`);
    }
    assert.is((await http('GET', `${url}/health`)).status, 200);
    assert.is((await http('GET', `${url}/ready`)).status, 200);
    assert.is((await http('GET', `${url}/lookup/1`)).status, 200);
  } finally {
    const exited = new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
});

test('--admin with another value is a usage error', () => {
  for (const command of ['start', 'node']) {
    const run = spawnSync(process.execPath, ['dist/src/cli/main.js', command, '--admin', 'maybe', ...(command === 'node' ? ['--config', 'x.json', '--node', 'a'] : [])], { encoding: 'utf8', timeout: 20_000 });
    assert.is.not(run.status, 0, command);
    assert.match(run.stdout + run.stderr, /--admin must be "on" or "off"/, command);
  }
});

test.run();
