// The gateway's rendered-body cache: the last body written for each list and search query, with the catalog
// index it reflects.
//
// Why: an answer is a function of its query and that index (ReadAnswer.index), so one at an index already
// rendered reuses the body instead of encoding every item again: encoding was most of the gateway thread's work
// per cached search (a topic is some 200 items). The index goes with the next read of the query as `knownIndex`,
// so an answer still at it comes back unchanged, without its items.
// Bounds: at most renderedBodiesMax queries; the least recently used goes first (a linked list, not a Map's
// delete-and-set per hit; see src/actors/cache/lru.ts), and at most `charsMax` characters together; a body larger
// than that is not kept.

import { LruMap } from '../actors/cache/lru.js';

/** Queries whose last rendered list or search body the gateway keeps (topics are few; this bounds odd ones). */
const renderedBodiesMax = 256;

export interface RenderedBody {
  readonly index: number;
  readonly body: string;
}

export class RenderedBodies {
  private readonly renderedBodies = new LruMap<string, RenderedBody>();
  private renderedBodiesChars = 0;

  constructor(private readonly renderedBodiesCharsMax: number) {}

  get(query: string): RenderedBody | undefined {
    return this.renderedBodies.get(query);
  }

  /** Keeps a rendered body within renderedBodiesMax entries and renderedBodiesCharsMax characters. */
  keepRendered(query: string, rendered: RenderedBody): void {
    const renderedBodiesCharsMax = this.renderedBodiesCharsMax;
    const previous = this.renderedBodies.peek(query);
    if (previous !== undefined) {
      this.renderedBodies.delete(query);
      this.renderedBodiesChars -= previous.body.length;
    }
    if (rendered.body.length > renderedBodiesCharsMax) return;
    this.renderedBodies.set(query, rendered);
    this.renderedBodiesChars += rendered.body.length;
    while (this.renderedBodies.size > renderedBodiesMax || this.renderedBodiesChars > renderedBodiesCharsMax) {
      const oldest = this.renderedBodies.oldestKey()!;
      this.renderedBodiesChars -= this.renderedBodies.peek(oldest)!.body.length;
      this.renderedBodies.delete(oldest);
    }
  }

  /** Characters and entries of the rendered bodies kept (tests, metrics). */
  renderedBodiesHeld(): { readonly entries: number; readonly chars: number } {
    return { entries: this.renderedBodies.size, chars: this.renderedBodiesChars };
  }
}
