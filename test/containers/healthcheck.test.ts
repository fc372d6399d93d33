// The image's health check (scripts/healthcheck.mjs), run as the HEALTHCHECK runs it: a child `node` process whose
// exit code is the verdict. Checked against servers on loopback port 0: healthy on 2xx, unhealthy on 503, on a
// 401 without the admin token and on a closed port; `listen:PORT` healthy while something listens and unhealthy
// after it closed; a target of another shape refused. Needs no podman.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript, type ScriptRun } from '../support/run-script.js';

const script = fileURLToPath(new URL('../../../scripts/healthcheck.mjs', import.meta.url));

/** The healthcheck script against `target`, PYGMY_ADMIN_TOKEN left out of the environment unless `env` gives it. */
function check(target: string, env: Record<string, string> = {}): Promise<ScriptRun> {
  const environment = { ...process.env, ...env };
  if (!('PYGMY_ADMIN_TOKEN' in env)) delete environment.PYGMY_ADMIN_TOKEN;
  return runScript(script, [target], { env: environment });
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

const close = (server: { close(callback: () => void): unknown }) => new Promise<void>((resolve) => server.close(() => resolve()));

test('http target: 2xx is healthy; 503, 401 without the token and a closed port are not', async () => {
  let status = 200;
  const server = createHttpServer((request, response) => {
    response.writeHead(request.url === '/ready' ? status : 404).end('{}');
  });
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/ready`;
  assert.is((await check(url)).code, 0);
  status = 503;
  const busy = await check(url);
  assert.is(busy.code, 1);
  assert.match(busy.output, /unhealthy: .* answered 503/);

  // A gateway whose operations routes need the token: the check sends the container's PYGMY_ADMIN_TOKEN.
  const guarded = createHttpServer((request, response) => {
    response.writeHead(request.headers.authorization === 'Bearer secret-token' ? 200 : 401).end('{}');
  });
  const guardedPort = await listen(guarded);
  const guardedUrl = `http://127.0.0.1:${guardedPort}/ready`;
  assert.is((await check(guardedUrl)).code, 1, 'without the token the answer is 401');
  assert.is((await check(guardedUrl, { PYGMY_ADMIN_TOKEN: 'secret-token' })).code, 0);
  await close(guarded);
  await close(server);
  assert.is((await check(url)).code, 1, 'nothing listens any more');
});

test('listen:PORT is healthy while the port listens and unhealthy once it closed; other targets are refused', async () => {
  const server = createTcpServer((socket) => socket.destroy());
  const port = await listen(server);
  const listening = await check(`listen:${port}`);
  assert.is(listening.code, 0, listening.output);
  assert.match(listening.output, new RegExp(`healthy: listening on ${port}`));
  await close(server);
  assert.is((await check(`listen:${port}`)).code, 1);
  const refused = await check('ftp://127.0.0.1/');
  assert.is(refused.code, 1);
  assert.match(refused.output, /target must be/);
});

test.run();
