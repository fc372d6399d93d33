// matchRoute's in-place path for `/lookup/ID` must give exactly what the general path gives, and leave every
// other target (a query, another method, a malformed or out-of-range id, extra segments) to the general path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCursor } from '../../src/http/order-pages.js';
import { matchRoute } from '../../src/http/routes.js';

test('plain lookups are matched in place to the lookup route', () => {
  assert.equal(matchRoute('GET', '/lookup/42'), { kind: 'lookup', id: 42 });
  assert.equal(matchRoute('HEAD', '/lookup/1'), { kind: 'lookup', id: 1 });
  assert.equal(matchRoute('GET', '/lookup/2147483647'), { kind: 'lookup', id: 2_147_483_647 });
  assert.equal(matchRoute('GET', '/lookup/007'), { kind: 'lookup', id: 7 }, 'leading zeros, as the general path reads them');
});

test('everything else takes the general path and gets its answer', () => {
  assert.equal(
    matchRoute('GET', '/lookup/42?fresh=1'),
    { kind: 'badRequest', error: 'unknown query parameter "fresh": this route takes no query parameters' },
    'a query is the general path\'s to judge, and the lookup takes none',
  );
  assert.is(matchRoute('POST', '/lookup/42').kind, 'methodNotAllowed');
  assert.is(matchRoute('GET', '/lookup/42/extra').kind, 'notFound');
  for (const bad of ['/lookup/', '/lookup/0', '/lookup/-1', '/lookup/1.5', '/lookup/abc', '/lookup/2147483648', `/lookup/${'9'.repeat(17)}`]) {
    const route = matchRoute('GET', bad);
    assert.is(route.kind, 'badRequest', bad);
  }
  assert.is(matchRoute('GET', '/lookup').kind, 'list');
  assert.is(matchRoute('GET', '/lookupx/1').kind, 'notFound');
});

test('a query parameter a route does not take is a 400 that names it, never ignored', () => {
  // A misspelt amount, an extra parameter beside a good one, and parameters on routes that take none.
  assert.equal(matchRoute('POST', '/order/1?Amount=5'), { kind: 'badRequest', error: 'unknown query parameter "Amount": this route takes only amount' });
  assert.equal(matchRoute('POST', '/order/1?amount=2&color=red&size=9'), { kind: 'badRequest', error: 'unknown query parameters "color", "size": this route takes only amount' });
  assert.equal(matchRoute('POST', '/order/1?amount=2'), { kind: 'order', item: 1, amount: 2 });
  assert.equal(matchRoute('GET', '/orders?item=2'), { kind: 'ordersOfItem', item: 2, limit: 100, after: null });
  for (const target of ['/orders?item=2&page=5', '/orders/abc?x=1', '/search/sys?q=1', '/lookup?all=1', '/health?x', '/cluster?verbose=1']) {
    const route = matchRoute('GET', target);
    assert.is(route.kind, 'badRequest', target);
    assert.match((route as { error: string }).error, 'unknown query parameter', target);
  }
  assert.is(matchRoute('PUT', '/order/1?Amount=5').kind, 'methodNotAllowed', 'the method is still checked first');
  assert.is(matchRoute('GET', '/nowhere?x=1').kind, 'notFound');
});

test('GET /orders?item=N&limit=L&after=CURSOR: bounded limit, the cursor of a page, clear 400s', () => {
  const cursor = encodeCursor({ sequence: 41, id: 'k'.repeat(128) });
  assert.equal(matchRoute('GET', `/orders?item=2&limit=1000&after=${cursor}`), { kind: 'ordersOfItem', item: 2, limit: 1000, after: { sequence: 41, id: 'k'.repeat(128) } });
  for (const [target, error] of [
    ['/orders?item=2&limit=0', /limit must be an integer from 1 to 1000/],
    ['/orders?item=2&limit=1001', /limit must be/],
    ['/orders?item=2&limit=x', /limit must be/],
    ['/orders?item=2&limit=1&limit=2', /at most once/],
    ['/orders?item=2&after=', /after must be/],
    ['/orders?item=2&after=%%%', /after must be/],
    [`/orders?item=2&after=${Buffer.from('[1]').toString('base64url')}`, /after must be/],
    [`/orders?item=2&after=${Buffer.from('[-1,"a"]').toString('base64url')}`, /after must be/],
    [`/orders?item=2&after=${'A'.repeat(5_000)}`, /after must be/],
  ] as const) {
    const route = matchRoute('GET', target);
    assert.is(route.kind, 'badRequest', target);
    assert.match((route as { error: string }).error, error, target);
  }
});

test.run();
