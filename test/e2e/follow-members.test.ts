// The cache follows the catalog group's live configuration, on `pygmy start`'s cluster: the catalog grows from 3
// to 6 (catalog-4..6 added and promoted) and the bootstrap members catalog-1..3 are removed, so none of the
// members the cache was started with is left. Past the cache's lease (3 s) lookups must still be served (reads
// from the new members) and be hits (the lease renewed by the new leader); a restock proposed straight to the new
// leader, not through the gateway (so no read-your-writes invalidation of its own), must reach the cache as the
// leader's invalidation. Fails if the cache keeps the member list it was started with.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import { withInProcessCluster } from '../support/in-process-cluster.js';
import { eventually, http, sleep } from '../support/pygmy-process.js';

async function lookup(url: string, item: number): Promise<{ stock: number; cache: string | null }> {
  const answer = await http('GET', `${url}/lookup/${item}`, { timeoutMs: 10_000 });
  assert.is(answer.status, 200, answer.text);
  return { stock: answer.json().result.stock as number, cache: answer.headers.get('x-cache') };
}

test('with every bootstrap catalog member replaced, the cache reads from, renews its lease with and hears the new ones', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  // As an operator would: a 503 (no leader for a moment, after the leader's own removal) is tried again.
  const change = (method: 'POST' | 'DELETE', path: string, body?: string) => eventually(`${method} ${path}`, async () => {
    const answer = await http(method, `${url}${path}`, { ...(body === undefined ? {} : { body }), timeoutMs: 15_000 });
    if (answer.status === 503) return undefined;
    assert.is(answer.status, 200, `${method} ${path}: ${answer.text}`);
    return answer;
  }, 30_000, 200);
  for (const name of ['catalog-4', 'catalog-5', 'catalog-6']) await change('POST', '/admin/groups/catalog/members', JSON.stringify({ name }));
  for (const name of ['catalog-1', 'catalog-2', 'catalog-3']) await change('DELETE', `/admin/groups/catalog/members/${name}`);
  const members = await eventually('a leader among the new members', async () => {
    const view = (await http('GET', `${url}/admin/groups/catalog/members`)).json();
    return view.ok && view.result.leader !== null && view.result.voters.includes(view.result.leader) ? view.result : undefined;
  }, 20_000);
  assert.equal(members.voters, ['catalog-4', 'catalog-5', 'catalog-6']);
  await sleep(3_500); // past the cache's lease: only contact with the new leader keeps it serving hits
  const first = await lookup(url, 1);
  const second = await eventually('a cache hit on the new members', async () => {
    const read = await lookup(url, 1);
    return read.cache === 'HIT' ? read : undefined;
  }, 10_000);
  assert.is(second.stock, first.stock);

  const command = encodeCatalogCommand({ type: 'restock', requestId: `follow-${process.pid}`, item: 1, amount: 7 });
  const proposed = await cluster.system.ask<{ ok: boolean }>(members.leader, { type: 'propose', data: command }, { timeoutMs: 5_000 });
  assert.ok(proposed.ok, JSON.stringify(proposed));
  const after = await eventually('the new leader\'s invalidation at the cache', async () => {
    const read = await lookup(url, 1);
    return read.stock === first.stock + 7 ? read : undefined;
  }, 5_000);
  assert.is(after.stock, first.stock + 7);
}));

test.run();
