// The terminal client against a real gateway over an in-memory backend: the one-shot form for scripts (body on
// stdout, exit code by status) and the interactive loop driven through streams.

import { PassThrough, Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main, parseCommand } from '../../src/cli/client.js';
import { createGateway, type Gateway } from '../../src/http/gateway.js';
import { FakeBackend } from '../http/fake-backend.js';
import { capturingLogger } from '../http/helpers.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Context {
  gateway: Gateway;
  backend: FakeBackend;
  url: string;
}

function streams(input = new PassThrough()) {
  const output = new Capture();
  const errorOutput = new Capture();
  return { io: { input, output, errorOutput, timeoutMs: 2_000 }, output, errorOutput, input };
}

const client = suite<Context>('client', {} as Context);
client.before.each(async (context) => {
  context.backend = new FakeBackend();
  context.gateway = createGateway({ backend: context.backend, logger: capturingLogger('warn').logger, port: 0 });
  const { port } = await context.gateway.listen();
  context.url = `http://127.0.0.1:${port}`;
});
client.after.each(async (context) => {
  await context.gateway.close();
});

client('one-shot lookup prints the exact body and exits 0', async ({ url }) => {
  // `pygmy client URL lookup 1` must print the gateway's body unchanged and succeed.
  const { io, output } = streams();
  const code = await main([url, 'lookup', '1'], io);
  assert.is(code, 0);
  assert.is(
    output.text,
    '{"ok":true,"result":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}\n',
  );
});

client('one-shot exits non-zero on a 404, a 400, a usage error and an unreachable gateway', async ({ url }) => {
  // Each failure kind has its own exit code: 1 for an answer that is not 2xx, 2 for usage and network errors.
  assert.is(await main([url, 'lookup', '99'], streams().io), 1);
  assert.is(await main([url, 'lookup', 'abc'], streams().io), 1);
  assert.is(await main([url, 'fly'], streams().io), 2);
  assert.is(await main(['not-a-url', 'list'], streams().io), 2);
  const unreachable = streams();
  assert.is(await main(['http://127.0.0.1:1', 'list'], unreachable.io), 2);
  assert.match(unreachable.errorOutput.text, 'cannot reach');
});

client('one-shot buy posts the order and reports the order id', async ({ url, backend }) => {
  // Buys 6 of book 3: stdout is "true", stderr names the order id, the fake's stock fell by 6.
  const { io, output, errorOutput } = streams();
  assert.is(await main([url, 'buy', '3', '6'], io), 0);
  assert.is(output.text, 'true\n');
  assert.match(errorOutput.text, /order id: \S{21}/);
  assert.is(backend.items.find((item) => item.id === 3)?.stock, 19);
});

client('the interactive loop answers each command in words and a table, then quits', async ({ url, backend }) => {
  // Feeds a session through the input stream and checks the sentences and the table rows printed for each step.
  const { io, output, input } = streams();
  const running = main([url], io);
  input.write('help\nlist\nsearch graduate\nlookup 2\nlookup 42\nbuy 4 2\n');
  input.write('frobnicate\nbuy 4 999\n');
  input.end('quit\nlist\n');
  assert.is(await running, 0);
  const text = output.text;
  assert.match(text, 'buy ID [AMOUNT]');
  assert.match(text, /id\s+name\s+stock\s+price\s+topic/);
  assert.match(text, /1\s+How to get a good grade in 677 in 20 minutes a…\s+10\s+19\.90\s+Distributed systems/);
  assert.match(text, /4\s+Cooking for the Impatient Graduate Student\s+15\s+30\.90\s+Graduate School/);
  assert.match(text, '#2 RPCs for Dummies\n   20 in stock, 29.90 each, Distributed systems');
  assert.match(text, 'no book with id 42');
  assert.match(text, /bought 2 of book 4 \(order \S{21}\)/);
  assert.match(text, 'unknown command "frobnicate"');
  assert.match(text, 'not bought: no such book or not enough in stock');
  assert.ok(text.trimEnd().endsWith('bye'), text);
  // "list" after "quit" must not run: the list route was read exactly twice (list, then search's own).
  assert.is(backend.items.find((item) => item.id === 4)?.stock, 13);
  assert.is(text.split('id  name').length - 1, 2, text);
});

client('a 503 to a buy says the outcome is unknown and how to look, not "try again"', async ({ url, backend }) => {
  // The fake is unavailable: the gateway answers 503 with x-order-id, and the loop names the order to look up.
  backend.mode = 'unavailable';
  const { io, output, input } = streams();
  const running = main([url], io);
  input.end('buy 3 1\n');
  await running;
  assert.match(output.text, /outcome unknown: order \S{21} may still be bought or refused; look with: order \S{21}/);
});

client('an order can be looked up from the loop', async ({ url }) => {
  // Places an order with a known key through the gateway, then asks the loop for it by id.
  await fetch(`${url}/order/2?amount=3`, { method: 'POST', headers: { 'Idempotency-Key': 'k-7' } });
  const { io, output, input } = streams();
  const running = main([url], io);
  input.end('order k-7\norder missing\n');
  assert.is(await running, 0);
  assert.match(output.text, 'order k-7: 3 of book 2, total 89.70, committed, placed 2023-11-14T22:13:20.000Z');
  assert.match(output.text, 'no order missing');
});

const parsing = suite('client commands');

parsing('commands parse with their arguments and reject wrong arity', () => {
  // Checks each verb, the default amount, multi-word topics and the invalid cases.
  assert.equal(parseCommand(['buy', '3']), { kind: 'buy', id: '3', amount: '1' });
  assert.equal(parseCommand(['search', 'graduate', 'school']), { kind: 'search', topic: 'graduate school' });
  assert.equal(parseCommand(['LIST']), { kind: 'list' });
  assert.is(parseCommand(['lookup']).kind, 'invalid');
  assert.is(parseCommand(['buy', '1', '2', '3']).kind, 'invalid');
  assert.is(parseCommand(['exit']).kind, 'quit');
});

client.run();
parsing.run();
