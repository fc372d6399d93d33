// Tests of LruMap, the cache policy's recency order: the listed cases, then random operations checked step by step
// against a plain model (an array ordered from least to most recent), which a broken relink fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LruMap } from '../../src/actors/cache/lru.js';

test('get and set make a key the most recent; peek leaves the order alone', () => {
  const lru = new LruMap<string, number>();
  lru.set('a', 1);
  lru.set('b', 2);
  lru.set('c', 3);
  assert.equal(lru.keysByAge(), ['a', 'b', 'c']);
  assert.is(lru.get('a'), 1);
  assert.equal(lru.keysByAge(), ['b', 'c', 'a']);
  assert.is(lru.peek('b'), 2);
  assert.equal(lru.keysByAge(), ['b', 'c', 'a']);
  lru.set('b', 20);
  assert.equal(lru.keysByAge(), ['c', 'a', 'b']);
  assert.is(lru.peek('b'), 20);
  assert.is(lru.oldestKey(), 'c');
  assert.is(lru.get('missing'), undefined);
  assert.is(lru.size, 3);
});

test('delete unlinks from either end and the middle; clear empties', () => {
  const lru = new LruMap<number, string>();
  for (const key of [1, 2, 3, 4, 5]) lru.set(key, String(key));
  assert.ok(lru.delete(1));
  assert.ok(lru.delete(5));
  assert.ok(lru.delete(3));
  assert.not.ok(lru.delete(3));
  assert.equal(lru.keysByAge(), [2, 4]);
  assert.is(lru.oldestKey(), 2);
  lru.get(2);
  assert.is(lru.oldestKey(), 4);
  lru.clear();
  assert.is(lru.size, 0);
  assert.is(lru.oldestKey(), undefined);
  assert.equal(lru.keysByAge(), []);
  lru.set(7, 'seven');
  assert.equal(lru.keysByAge(), [7]);
});

test('random operations keep the same order and values as a plain model', () => {
  let seed = 12345;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const lru = new LruMap<number, number>();
  const model: Array<[number, number]> = [];
  const touch = (key: number) => {
    const at = model.findIndex(([k]) => k === key);
    if (at < 0) return undefined;
    const [entry] = model.splice(at, 1);
    model.push(entry!);
    return entry![1];
  };
  for (let step = 0; step < 5_000; step += 1) {
    const key = random(12);
    switch (random(5)) {
      case 0:
        assert.is(lru.get(key), touch(key), `get ${key} at step ${step}`);
        break;
      case 1:
        assert.is(lru.peek(key), model.find(([k]) => k === key)?.[1], `peek ${key} at step ${step}`);
        break;
      case 2: {
        const at = model.findIndex(([k]) => k === key);
        assert.is(lru.delete(key), at >= 0, `delete ${key} at step ${step}`);
        if (at >= 0) model.splice(at, 1);
        break;
      }
      default: {
        const at = model.findIndex(([k]) => k === key);
        if (at >= 0) model.splice(at, 1);
        model.push([key, step]);
        lru.set(key, step);
      }
    }
    assert.equal(lru.keysByAge(), model.map(([k]) => k), `order at step ${step}`);
    assert.is(lru.size, model.length);
    assert.is(lru.oldestKey(), model[0]?.[0]);
  }
});

test.run();
