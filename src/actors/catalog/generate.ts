// A large synthetic catalog for the benchmarks, made deterministically from a seed.
//
// Promises: the same options give the same catalog, byte for byte, on any machine (a seeded 32-bit generator and
// integer arithmetic only); the result passes parseCatalog. Needs nothing.
import { catalogLimits, parseCatalog, type Catalog, type Item, type Topic } from './catalog.js';

export interface GenerateOptions {
  readonly items: number;
  readonly topics: number;
  readonly seed: number;
}

/** mulberry32: a small, well-mixed 32-bit generator; returns an integer in [0, 2^32). */
function seededGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return (mixed ^ (mixed >>> 14)) >>> 0;
  };
}

const subjects = [
  'Distributed systems', 'Graduate School', 'Consensus', 'Databases', 'Compilers', 'Operating systems', 'Networks',
  'Cryptography', 'Cooking', 'Gardening', 'Poetry', 'History', 'Astronomy', 'Statistics', 'Typography', 'Music',
];
const adjectives = ['Practical', 'Gentle', 'Impatient', 'Complete', 'Forgotten', 'Modern', 'Tiny', 'Reliable', 'Curious'];
const nouns = ['Guide', 'Handbook', 'Primer', 'Field Notes', 'Recipes', 'Essays', 'Lectures', 'Puzzles', 'Stories'];

function pick<T>(list: readonly T[], next: () => number): T {
  return list[next() % list.length]!;
}

export function generateCatalog(options: GenerateOptions): Catalog {
  const { items: itemCount, topics: topicCount, seed } = options;
  if (!Number.isSafeInteger(itemCount) || itemCount < 0 || itemCount > catalogLimits.itemsMax) {
    throw new RangeError(`items must be an integer from 0 to ${catalogLimits.itemsMax}, got ${itemCount}`);
  }
  if (!Number.isSafeInteger(topicCount) || topicCount < 1 || topicCount > catalogLimits.topicsMax) {
    throw new RangeError(`topics must be an integer from 1 to ${catalogLimits.topicsMax}, got ${topicCount}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const next = seededGenerator(seed);
  const topics: Topic[] = [];
  for (let id = 1; id <= topicCount; id += 1) {
    // The number keeps names unique while the subject keeps searches like "sys" meaningful.
    topics.push({ id, name: `${subjects[(id - 1) % subjects.length]} ${id}` });
  }
  const items: Item[] = [];
  for (let id = 1; id <= itemCount; id += 1) {
    const name = `The ${pick(adjectives, next)} ${pick(nouns, next)} of ${pick(subjects, next)}, volume ${id}`;
    const stock = 10 + (next() % 991);
    const price = (99 + (next() % 9_901)) / 100;
    const topic = 1 + (next() % topicCount);
    items.push({ id, name, stock, price, topic });
  }
  return parseCatalog({ topics, items });
}
