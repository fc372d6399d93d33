// What the cache actor sends back for a list or search whose asker named the index of the answer it holds.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withoutWhatIsKnown, type CacheAnswer } from '../../src/actors/cache/actor.js';

const items = [{ id: 1, name: 'A book', stock: 3, price: 9.9, topic: 1 }];
const topics = [{ id: 1, name: 'Distributed systems' }];
const answerAt = (index: number): CacheAnswer => ({ result: items, topics, cache: 'HIT', servedBy: null, index, held: true });

test('an answer at the named index goes without its items; any other goes whole', () => {
  // Named 7, answered at 7: unchanged, no items, no topics. Named 6 or nothing: the whole answer.
  const unchanged = withoutWhatIsKnown({ type: 'search', topic: 'sys', knownIndex: 7 }, answerAt(7));
  assert.equal(unchanged, { result: null, topics: [], cache: 'HIT', servedBy: null, index: 7, held: true, unchanged: true });
  assert.equal(withoutWhatIsKnown({ type: 'search', topic: 'sys', knownIndex: 6 }, answerAt(7)), answerAt(7));
  assert.equal(withoutWhatIsKnown({ type: 'search', topic: 'sys' }, answerAt(7)), answerAt(7));
  assert.equal(withoutWhatIsKnown({ type: 'list', knownIndex: 7 }, answerAt(7)).unchanged, true);
  assert.equal(withoutWhatIsKnown({ type: 'list' }, answerAt(7)), answerAt(7));
});

test('a lookup always goes whole: the gateway mirrors lookups from their items', () => {
  const lookup: CacheAnswer = { result: items[0]!, topics, cache: 'HIT', servedBy: null, index: 7, held: true };
  assert.equal(withoutWhatIsKnown({ type: 'lookup', id: 1 }, lookup), lookup);
});

test.run();
