// The admin rule in a real `pygmy start` process: with PYGMY_ADMIN_TOKEN set and the gateway on loopback, kill,
// invalidation and price changes need the token (they used to be open on loopback); `--admin off` turns the
// operations routes off whatever the token, while /health, /ready and the shop keep answering; a bad --admin
// value is a usage error. Each process is stopped and its data dir removed.

import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
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

test('--admin with another value is a usage error', () => {
  for (const command of ['start', 'node']) {
    const run = spawnSync(process.execPath, ['dist/src/cli/main.js', command, '--admin', 'maybe', ...(command === 'node' ? ['--config', 'x.json', '--node', 'a'] : [])], { encoding: 'utf8', timeout: 20_000 });
    assert.is.not(run.status, 0, command);
    assert.match(run.stdout + run.stderr, /--admin must be "on" or "off"/, command);
  }
});

test.run();
