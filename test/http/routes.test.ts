// matchRoute's in-place path for `/lookup/ID` must give exactly what the general path gives, and leave every
// other target (a query, another method, a malformed or out-of-range id, extra segments) to the general path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matchRoute } from '../../src/http/routes.js';

test('plain lookups are matched in place to the lookup route', () => {
  assert.equal(matchRoute('GET', '/lookup/42'), { kind: 'lookup', id: 42 });
  assert.equal(matchRoute('HEAD', '/lookup/1'), { kind: 'lookup', id: 1 });
  assert.equal(matchRoute('GET', '/lookup/2147483647'), { kind: 'lookup', id: 2_147_483_647 });
  assert.equal(matchRoute('GET', '/lookup/007'), { kind: 'lookup', id: 7 }, 'leading zeros, as the general path reads them');
});

test('everything else takes the general path and gets its answer', () => {
  assert.equal(matchRoute('GET', '/lookup/42?fresh=1'), { kind: 'lookup', id: 42 }, 'a query is the general path\'s to judge');
  assert.is(matchRoute('POST', '/lookup/42').kind, 'methodNotAllowed');
  assert.is(matchRoute('GET', '/lookup/42/extra').kind, 'notFound');
  for (const bad of ['/lookup/', '/lookup/0', '/lookup/-1', '/lookup/1.5', '/lookup/abc', '/lookup/2147483648', `/lookup/${'9'.repeat(17)}`]) {
    const route = matchRoute('GET', bad);
    assert.is(route.kind, 'badRequest', bad);
  }
  assert.is(matchRoute('GET', '/lookup').kind, 'list');
  assert.is(matchRoute('GET', '/lookupx/1').kind, 'notFound');
});

test.run();
