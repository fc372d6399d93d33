// Tests of the gateway's near cache (src/actors/cache/mirror.ts) and its protocol with the cache actor, driven by hand:
// fake notices in the order a FIFO link would deliver them, a hand-moved clock, and an ActorBackend (whose cache
// client owns the mirror, src/actors/cache/client.ts) over a fake actor port and a fake runtime hook, so each
// ordering that matters (invalidation before answer, answer in flight across an invalidation, forget, lease lapse,
// crash) is played exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CachePolicy, itemKey } from '../../src/actors/cache/policy.js';
import type { CacheAnswer } from '../../src/actors/cache/actor.js';
import { ActorBackend, type ActorPort } from '../../src/http/actor-backend.js';
import type { Item, RequestDeadline } from '../../src/http/backend.js';
import { CacheMirror, isMirrorNotice } from '../../src/actors/cache/mirror.js';
import { prepareLookup } from '../../src/http/prepared-lookup.js';
import type { Logger } from '../../src/runtime/actor.js';
import type { ActorWatcher } from '../../src/runtime/system.js';

const topics = [{ id: 1, name: 'Distributed systems' }];
const itemAt = (id: number, stock: number): Item => ({ id, name: `book ${id}`, stock, price: 10, topic: 1 });

function makeMirror() {
  const clock = { nowMs: 10_000 };
  const mirror = new CacheMirror({ capacity: 100, now: () => clock.nowMs, prepare: prepareLookup });
  mirror.apply({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
  return { mirror, clock };
}

const answer = (id: number, stock: number, index: number, held = true) => ({ result: itemAt(id, stock), topics, index, held });
const stockIn = (body: string | undefined) => (body === undefined ? undefined : (JSON.parse(body) as { result: Item }).result.stock);

test('a held answer is served from the mirror with prepared headers; an unheld one is not kept', () => {
  // Fills two items, one marked held and one not; only the held one may come back as a prepared hit.
  const { mirror } = makeMirror();
  assert.ok(mirror.fill(1, answer(1, 7, 5)));
  assert.not.ok(mirror.fill(2, answer(2, 7, 5, false)));
  const hit = mirror.lookup(1);
  assert.ok(hit);
  assert.is(hit.status, 200);
  assert.is(stockIn(hit.body), 7);
  assert.is(hit.headers['x-cache'], 'HIT');
  assert.is(hit.headers['content-length'], Buffer.byteLength(hit.body));
  assert.is(mirror.lookup(2), undefined);
});

test('an unknown item is mirrored as a prepared 404', () => {
  // The cache actor answers null for an unknown id; the mirror must keep that as the contract's 404 body.
  const { mirror } = makeMirror();
  assert.ok(mirror.fill(9, { result: null, topics: [], index: 3, held: true }));
  const hit = mirror.lookup(9);
  assert.is(hit?.status, 404);
  assert.is(hit?.body, '{"ok":false,"result":null,"topics":[]}');
});

test('FIFO: an invalidation told before an answer is applied first, and the newer answer is kept', () => {
  // Order on the link: the answer at index 5, then an invalidation at 8, then the refill at 8. The first answer
  // must be gone after the invalidation and the refill must be served.
  const { mirror } = makeMirror();
  mirror.fill(1, answer(1, 7, 5));
  mirror.apply({ type: 'mirrorInvalidate', items: [1], index: 8 });
  assert.is(mirror.lookup(1), undefined);
  assert.ok(mirror.fill(1, answer(1, 6, 8)));
  assert.is(stockIn(mirror.lookup(1)?.body), 6);
});

test('an answer still in flight when an invalidation arrives is refused by its mark', () => {
  // The gateway's own write invalidation (index 8) is applied before an older answer (index 5) that was already
  // on its way; put() must refuse that answer, or a later hit would show stock older than the write.
  const { mirror } = makeMirror();
  mirror.invalidate([1], 8);
  assert.not.ok(mirror.fill(1, answer(1, 7, 5)));
  assert.is(mirror.lookup(1), undefined);
  assert.is(mirror.stats().fillsRefused, 1);
});

test('mirrorForget drops every entry', () => {
  // The cache actor forgot everything (lease lapse, chain gap, invalidateAll): so must the mirror.
  const { mirror } = makeMirror();
  mirror.fill(1, answer(1, 7, 5));
  mirror.fill(2, answer(2, 7, 5));
  assert.ok(mirror.apply({ type: 'mirrorForget' }));
  assert.is(mirror.lookup(1), undefined);
  assert.is(mirror.lookup(2), undefined);
});

test('the lease: no hit after validUntilMs, and a renewal after a lapse starts empty', () => {
  // Moves the clock past the grant: the entry must not be served; a later grant must not revive it, nor an entry
  // filled while the lease had lapsed.
  const { mirror, clock } = makeMirror();
  mirror.fill(1, answer(1, 7, 5));
  clock.nowMs += 1_000;
  assert.ok(mirror.lookup(1), 'served up to and including validUntilMs');
  clock.nowMs += 1;
  assert.is(mirror.lookup(1), undefined);
  mirror.fill(2, answer(2, 7, 5));
  mirror.apply({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
  assert.is(mirror.lookup(1), undefined);
  assert.is(mirror.lookup(2), undefined);
  mirror.fill(1, answer(1, 6, 9));
  assert.is(stockIn(mirror.lookup(1)?.body), 6);
});

test('no hit before the first grant and after a revocation (the cache actor crashed)', () => {
  // A fresh mirror has no lease; revoke() must end the lease at once, not at validUntilMs.
  const clock = { nowMs: 0 };
  const mirror = new CacheMirror({ capacity: 10, now: () => clock.nowMs, prepare: prepareLookup });
  mirror.fill(1, answer(1, 7, 5));
  assert.is(mirror.lookup(1), undefined);
  mirror.apply({ type: 'mirrorLease', validUntilMs: 1_000 });
  mirror.fill(1, answer(1, 7, 5));
  assert.ok(mirror.lookup(1));
  mirror.revoke();
  assert.is(mirror.lookup(1), undefined);
  mirror.fill(1, answer(1, 7, 5));
  assert.is(mirror.lookup(1), undefined, 'no lease until the restarted cache grants one');
});

test('notices are validated: anything malformed is ignored', () => {
  // The '$system' endpoint hears other tells too; only well-formed mirror notices may change the mirror.
  assert.not.ok(isMirrorNotice(null));
  assert.not.ok(isMirrorNotice({ type: 'mirrorInvalidate', items: [0], index: 1 }));
  assert.not.ok(isMirrorNotice({ type: 'mirrorInvalidate', items: [1], index: -1 }));
  assert.not.ok(isMirrorNotice({ type: 'mirrorLease', validUntilMs: Number.POSITIVE_INFINITY }));
  assert.not.ok(isMirrorNotice({ type: 'other' }));
  const { mirror } = makeMirror();
  mirror.fill(1, answer(1, 7, 5));
  assert.not.ok(mirror.apply({ type: 'mirrorInvalidate', items: ['1'], index: 9 }));
  assert.ok(mirror.lookup(1));
});

test('the cache policy hooks the actor relies on: holds() and onForgetEverything', () => {
  // holds() must tell a kept fill from one the policy refused; a chain gap must call onForgetEverything.
  let forgets = 0;
  const policy = new CachePolicy<{ stock: number }>({ capacity: 10, leaseMs: 500, now: () => 0, onForgetEverything: () => { forgets += 1; } });
  policy.noteContact(0);
  const kept = { stock: 1 };
  const refused = { stock: 2 };
  policy.invalidate(1, 10);
  assert.ok(policy.put(itemKey(1), kept, 10));
  assert.not.ok(policy.put(itemKey(1), refused, 9));
  assert.ok(policy.holds(itemKey(1), kept));
  assert.not.ok(policy.holds(itemKey(1), refused));
  policy.followChange(10, 0);
  assert.is(forgets, 0);
  policy.followChange(30, 20);
  assert.is(forgets, 1);
});

// ---- ActorBackend with the near cache, over a fake actor port ----

interface FakePort extends ActorPort {
  readonly asks: { target: string; message: { type: string } }[];
  /** The catalog index the order group's answer names for the next order. */
  catalogIndex: number;
  cacheAnswer: (message: { type: string }) => Promise<unknown>;
  /** What the runtime hook was given: the cache actor's notices go to `told`, its going to `gone`. */
  watcher: ActorWatcher | null;
  /** The cache actor telling '$system' (as the runtime would deliver it). */
  tell(notice: unknown): void;
}

/** The runtime hook of a fake port: at most one watcher, on the cache actor. */
function watchOf(port: FakePort) {
  return (name: string, watcher: ActorWatcher) => {
    assert.is(name, 'cache');
    port.watcher = watcher;
    return () => { port.watcher = null; };
  };
}

const silentLog = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

function fakePort(): FakePort {
  const port: FakePort = {
    asks: [],
    catalogIndex: 20,
    watcher: null,
    tell: (notice) => port.watcher?.told(notice),
    cacheAnswer: () => Promise.reject(new Error('no answer set')),
    ask<R>(target: string, message: unknown): Promise<R> {
      port.asks.push({ target, message: message as { type: string } });
      if (target === 'cache') return port.cacheAnswer(message as { type: string }) as Promise<R>;
      if (target === 'catalog-1' && (message as { type: string }).type === 'read') {
        return Promise.resolve({ ok: true, result: { item: itemAt(3, 9), topics }, index: 11 } as R);
      }
      if (target === 'order-1') {
        return Promise.resolve({ ok: true, result: { kind: 'decided', bought: true, order: { reason: null }, catalogIndex: port.catalogIndex }, index: 7 } as R);
      }
      return Promise.reject(new Error(`unexpected ask to ${target}`));
    },
    status: () => Promise.resolve([{ name: 'cache' }, { name: 'order-1' }] as never),
    kill: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    startActor: () => Promise.resolve(),
    isolate: () => Promise.resolve(),
    heal: () => Promise.resolve(),
  };
  return port;
}

function makeBackend() {
  const port = fakePort();
  const clock = { nowMs: 50_000 };
  const backend = new ActorBackend({
    actors: port, catalogMembers: ['catalog-1'], orderMembers: ['order-1'], cacheName: 'cache', log: silentLog,
    nearCache: { capacity: 100, now: () => clock.nowMs, watch: watchOf(port) },
  });
  port.tell({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
  return { port, backend, clock };
}

const hitAnswer = (id: number, stock: number, index: number): CacheAnswer =>
  ({ result: itemAt(id, stock), topics, cache: 'HIT', servedBy: null, index, held: true });
const deadline: RequestDeadline = { signal: new AbortController().signal, remainingMs: () => 3_000 };

test('backend: a lookup through the cache actor fills the near cache; the next one asks nothing', async () => {
  // Counts asks to the cache actor: the second lookup of the same id must be answered by nearLookup alone.
  const { port, backend } = makeBackend();
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
  assert.is(backend.nearLookup(3), undefined);
  await backend.lookup(3, deadline);
  const asksBefore = port.asks.length;
  assert.is(stockIn(backend.nearLookup(3)?.body), 7);
  assert.is(port.asks.length, asksBefore);
});

test('backend: read-your-writes — an order returns after the cache confirmed its index, even against a late stale answer', async () => {
  // A lookup's answer (stock 7 at index 5) is held back while an order on the item commits at catalog index 20;
  // the cache actor, as it does, tells the mirror the invalidation (from the replicas' push) before it answers the
  // confirmation; the stale answer then arrives. After order() returns, no near hit may show stock 7, and the
  // gateway never sent an invalidation of its own (one path per write).
  const { port, backend } = makeBackend();
  let releaseStale!: () => void;
  port.cacheAnswer = (message) => {
    if (message.type === 'confirm') {
      assert.is((message as { index?: number }).index, 20);
      port.tell({ type: 'mirrorInvalidate', items: [3], index: 20 });
      return Promise.resolve(true);
    }
    return new Promise((resolve) => { releaseStale = () => resolve(hitAnswer(3, 7, 5)); });
  };
  const lookup = backend.lookup(3, deadline);
  const outcome = await backend.order(3, 1, 'order-a', deadline);
  assert.ok(outcome.bought);
  assert.equal(port.asks.filter((ask) => ask.target === 'cache').map((ask) => ask.message.type), ['lookup', 'confirm']);
  releaseStale();
  await lookup;
  assert.is(backend.nearLookup(3), undefined);
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 6, 20));
  await backend.lookup(3, deadline);
  assert.is(stockIn(backend.nearLookup(3)?.body), 6);
});

test('backend: an unconfirmed invalidation distrusts the cache and bypasses the near cache', async () => {
  // The cache actor fails to confirm the order's invalidation: nearLookup must stop answering at once.
  const { port, backend } = makeBackend();
  port.cacheAnswer = () => Promise.resolve(hitAnswer(4, 7, 5));
  await backend.lookup(4, deadline);
  assert.ok(backend.nearLookup(4));
  port.cacheAnswer = (message) => (message.type === 'confirm' ? Promise.reject(new Error('timeout')) : Promise.resolve(hitAnswer(4, 7, 5)));
  await backend.order(5, 1, 'order-b', deadline);
  assert.is(backend.nearLookup(4), undefined);
});

test('backend: a confirmation answered false distrusts too; the next confirmed write clears the cache and trusts it again', async () => {
  // false is the cache saying its ask's deadline came before the chain reached the index.
  const { port, backend, clock } = makeBackend();
  port.cacheAnswer = (message) => (message.type === 'confirm' ? Promise.resolve(false) : Promise.resolve(hitAnswer(4, 7, 5)));
  await backend.order(5, 1, 'order-c', deadline);
  const before = port.asks.length;
  assert.is((await backend.lookup(4, deadline)).cache, 'MISS', 'a distrusted cache is read around');
  assert.equal(port.asks.slice(before).map((ask) => ask.target), ['catalog-1']);
  port.cacheAnswer = (message) => Promise.resolve(message.type === 'confirm' || message.type === 'invalidateAll' ? true : hitAnswer(4, 7, 5));
  await backend.order(5, 1, 'order-d', deadline);
  await backend.cacheSettled();
  assert.equal(port.asks.slice(-2).map((ask) => ask.message.type), ['confirm', 'invalidateAll']);
  port.tell({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
  assert.is((await backend.lookup(4, deadline)).cache, 'HIT');
  assert.ok(backend.nearLookup(4), 'trusted again: the mirror fills');
});

test('backend: while the cache is distrusted a write waits for no confirmation (a dead cache costs one wait, not one per write)', async () => {
  // The first write's confirmation fails; then the cache never answers (its host died). The next write must
  // return at once, its confirmation left to the background attempt to trust the cache again.
  const { port, backend } = makeBackend();
  port.cacheAnswer = (message) => (message.type === 'confirm' ? Promise.reject(new Error('timeout')) : Promise.resolve(hitAnswer(4, 7, 5)));
  await backend.order(5, 1, 'order-e', deadline);
  port.cacheAnswer = () => new Promise(() => {});
  const answered = await Promise.race([backend.order(5, 1, 'order-f', deadline).then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('waited'), 500))]);
  assert.is(answered, 'answered');
  assert.is(port.asks.filter((ask) => ask.target === 'cache').at(-1)?.message.type, 'confirm', 'a confirmation is tried in the background');
  assert.is(backend.nearLookup(4), undefined, 'still distrusted');
});

test('backend: trust comes back only once every write acknowledged meanwhile is confirmed', async () => {
  // Distrusted after a write at index 20; the background confirmation of 20 is held while a write at index 30 is
  // acknowledged. Trusting the cache after confirming only 20 would let it serve what 30 changed.
  const { port, backend, clock } = makeBackend();
  port.cacheAnswer = (message) => (message.type === 'confirm' ? Promise.resolve(false) : Promise.resolve(hitAnswer(4, 7, 5)));
  await backend.order(5, 1, 'order-g', deadline);
  let release!: () => void;
  const confirmed: number[] = [];
  port.cacheAnswer = (message) => {
    if (message.type === 'confirm') {
      confirmed.push((message as { index?: number }).index ?? -1);
      return confirmed.length === 1 ? new Promise((resolve) => { release = () => resolve(true); }) : Promise.resolve(true);
    }
    return Promise.resolve(message.type === 'invalidateAll' ? true : hitAnswer(4, 7, 5));
  };
  await backend.order(5, 1, 'order-h', deadline);
  port.catalogIndex = 30;
  await backend.order(5, 1, 'order-i', deadline);
  release();
  await backend.cacheSettled();
  assert.equal(confirmed, [20, 30], 'the write at 30 is confirmed before the cache is trusted');
  port.tell({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
  assert.is((await backend.lookup(4, deadline)).cache, 'HIT', 'trusted again');
});

test('backend: the cache actor going (crash, restart, exit through the runtime hook) revokes the near cache', async () => {
  // gone() is what ActorSystem.watchActor calls on crash, restart and exit.
  const { port, backend } = makeBackend();
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
  await backend.lookup(3, deadline);
  assert.ok(backend.nearLookup(3));
  port.watcher?.gone();
  assert.is(backend.nearLookup(3), undefined);
  backend.close();
  assert.is(port.watcher, null, 'close() stops watching');
});

test('backend: killing, stopping or isolating the cache actor revokes the near cache; heal does not', async () => {
  // Each cutting action must end mirror hits at once, before the lease would lapse by itself.
  for (const action of ['kill', 'stop', 'isolate'] as const) {
    const { port, backend, clock } = makeBackend();
    port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
    await backend.lookup(3, deadline);
    await backend.actorAction('order-1', action);
    assert.ok(backend.nearLookup(3), `${action} of another actor leaves the near cache`);
    await backend.actorAction('cache', action);
    assert.is(backend.nearLookup(3), undefined, action);
    port.tell({ type: 'mirrorLease', validUntilMs: clock.nowMs + 1_000 });
    assert.is(backend.nearLookup(3), undefined, `${action}: a new grant does not bring old entries back`);
  }
  const { port, backend } = makeBackend();
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
  await backend.lookup(3, deadline);
  await backend.actorAction('cache', 'heal');
  assert.ok(backend.nearLookup(3));
});

test('backend: without the option there is no near cache', async () => {
  // The default (and multi-host with the cache elsewhere) must keep asking the cache actor every time.
  const port = fakePort();
  const backend = new ActorBackend({ actors: port, catalogMembers: ['catalog-1'], orderMembers: ['order-1'], cacheName: 'cache', log: silentLog });
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
  port.tell({ type: 'mirrorLease', validUntilMs: Date.now() + 1_000 });
  await backend.lookup(3, deadline);
  assert.is(backend.nearLookup(3), undefined);
  assert.is(port.watcher, null, 'nothing watches the cache actor');
  assert.is(backend.nearCacheStats(), null);
});

test('backend: with the cache switched off a read goes straight to a catalog replica, never through the cache actor', async () => {
  // `readThroughCache: false` is what `pygmy start --no-cache` sets: the cache actor would only pass reads on.
  const port = fakePort();
  const backend = new ActorBackend({
    actors: port, catalogMembers: ['catalog-1'], orderMembers: ['order-1'], cacheName: 'cache', log: silentLog, readThroughCache: false,
  });
  port.cacheAnswer = () => Promise.resolve(hitAnswer(3, 7, 5));
  const answer = await backend.lookup(3, deadline);
  assert.is(answer.cache, 'MISS');
  assert.is(answer.servedBy, 'catalog-1');
  assert.is(answer.result?.stock, 9);
  assert.equal(port.asks.map((ask) => ask.target), ['catalog-1']);
});

test.run();
