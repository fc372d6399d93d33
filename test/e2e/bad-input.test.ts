// Every bad-input row of DESIGN.md §1 against a real `pygmy start` process, and no quorum → 503 with
// Retry-After. Afterwards the process still serves, and nothing was bought by any refused request.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { http, removeDataDir, startPygmy, type PygmyProcess } from '../support/pygmy-process.js';

let pygmy: PygmyProcess;

test.before(async () => {
  pygmy = await startPygmy({ args: ['--fresh'] });
});

test.after(async () => {
  const code = await pygmy.stop();
  removeDataDir(pygmy.dataDir);
  assert.is(code, 0);
});

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => resolve(received));
    socket.on('close', () => resolve(received));
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(text.slice(0, 60))}`));
    });
    socket.write(text);
  });
}

test('each bad-input row gets its status and a JSON error', async () => {
  // Checks ids and amounts that are not positive integers (400), absurd amounts (400), unknown routes (404),
  // wrong methods (405 with Allow), an oversized body (413) and bad percent-encoding (400).
  const url = pygmy.url;
  const cases: Array<[string, string, number]> = [
    ['GET', '/lookup/0', 400],
    ['GET', '/lookup/-1', 400],
    ['GET', '/lookup/abc', 400],
    ['GET', '/lookup/1.5', 400],
    ['GET', '/lookup/99999999999999999999', 400],
    ['POST', '/order/abc', 400],
    ['POST', '/order/1?amount=0', 400],
    ['POST', '/order/1?amount=-3', 400],
    ['POST', '/order/1?amount=two', 400],
    ['POST', '/order/1?amount=1e9', 400],
    ['POST', '/order/1?amount=1000000000000', 400],
    ['GET', '/search/%E0%A4%A', 400],
    ['GET', '/nothing/here', 404],
    ['GET', '/lookup/9999', 404],
    ['GET', '/orders/no-such-order', 404],
  ];
  for (const [method, path, status] of cases) {
    const answer = await http(method, `${url}${path}`);
    assert.is(answer.status, status, `${method} ${path} → ${answer.status} ${answer.text}`);
    const body = answer.json();
    assert.is(body.ok, false, `${method} ${path} answers ok:false`);
    if (status === 400) assert.type(body.error, 'string');
  }
  const wrongMethod = await http('DELETE', `${url}/lookup/1`);
  assert.is(wrongMethod.status, 405);
  assert.ok(wrongMethod.headers.get('allow'));
  const port = Number(new URL(url).port);
  const huge = await rawRequest(port, `POST /order/1 HTTP/1.1\r\nHost: x\r\ncontent-length: ${70 * 1024}\r\n\r\n${'x'.repeat(70 * 1024)}`);
  assert.ok(huge.startsWith('HTTP/1.1 413'), huge.slice(0, 80));
  const garbage = await rawRequest(port, 'THIS IS NOT HTTP\r\n\r\n');
  assert.ok(garbage === '' || garbage.startsWith('HTTP/1.1 400'), garbage.slice(0, 80));
  const stock = (await http('GET', `${url}/lookup/1`)).json().result.stock;
  assert.is(stock, 10, 'no refused request bought anything');
});

test('no quorum: an uncached read is 503 with Retry-After, then service resumes', async () => {
  // Stops two of three catalog replicas: a read of an uncached item cannot be linearized, so the gateway answers
  // 503 with Retry-After within the deadline; after starting them again the same read succeeds.
  const url = pygmy.url;
  for (const name of ['catalog-1', 'catalog-2']) assert.is((await http('POST', `${url}/admin/actors/${name}/stop`)).status, 200);
  const started = Date.now();
  const answer = await http('GET', `${url}/lookup/4`, { timeoutMs: 20_000 });
  assert.is(answer.status, 503, answer.text);
  assert.ok(answer.headers.get('retry-after'));
  assert.ok(Date.now() - started < 10_000, 'answered within the request deadline');
  const ready = await http('GET', `${url}/ready`);
  assert.is(ready.status, 503, 'not ready without a catalog quorum');
  for (const name of ['catalog-1', 'catalog-2']) assert.is((await http('POST', `${url}/admin/actors/${name}/start`)).status, 200);
  let recovered = 0;
  for (let attempt = 0; attempt < 100 && recovered === 0; attempt += 1) {
    const retry = await http('GET', `${url}/lookup/4`, { timeoutMs: 20_000 });
    if (retry.status === 200) recovered = retry.json().result.stock;
  }
  assert.is(recovered, 15);
  assert.is((await http('GET', `${url}/health`)).status, 200);
});

test.run();
