// A lookup answer prepared once, when the near cache (src/actors/cache/mirror.ts) keeps it: status, body and
// headers, so a hit writes it as is and allocates nothing.

import type { Item, PreparedAnswer, Topic } from './backend.js';
import * as bodies from './bodies.js';

/** A lookup answer ready to write: constant per entry, so a hit allocates nothing. */
export interface PreparedLookup extends PreparedAnswer {
  readonly index: number;
}

function prepare(status: 200 | 404, body: string, index: number): PreparedLookup {
  const headers = { 'content-type': 'application/json', 'x-cache': 'HIT', 'content-length': Buffer.byteLength(body) };
  return { status, body, headers, index };
}

/** The lookup-body of an answer, or null when it cannot be encoded (the gateway then answers it the long way). */
export function prepareLookup(id: number, item: Item | null, topics: readonly Topic[], index: number): PreparedLookup | null {
  if (item === null) return prepare(404, bodies.lookupNotFoundBody, index);
  if (item.id !== id) return null;
  try {
    return prepare(200, bodies.lookupBody(item, topics), index);
  } catch {
    return null;
  }
}
