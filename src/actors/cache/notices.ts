// The notices the cache actor tells '$system' so that a mirror of it in the gateway's thread (mirror.ts, owned by
// the cache client, client.ts) stays coherent with it. Declared here once, for both ends.
//
// mirrorInvalidate {items, index}: the cache applied an invalidation (or an explicit one); mirrorForget: it dropped
// every entry; mirrorLease {validUntilMs}: its own lease lasts at least until then, so the mirror may serve hits
// until then. Each is told before anything the cache answers later (the link to '$system' is FIFO).

export type MirrorNotice =
  | { readonly type: 'mirrorInvalidate'; readonly items: readonly number[]; readonly index: number }
  | { readonly type: 'mirrorForget' }
  | { readonly type: 'mirrorLease'; readonly validUntilMs: number };

/** Items one invalidation may name; the cache actor refuses longer lists too. */
export const invalidateItemsMax = 10_000;

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isItemId(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

export function isMirrorNotice(message: unknown): message is MirrorNotice {
  if (typeof message !== 'object' || message === null) return false;
  const candidate = message as Record<string, unknown>;
  switch (candidate.type) {
    case 'mirrorInvalidate':
      return Array.isArray(candidate.items) && candidate.items.length <= invalidateItemsMax &&
        candidate.items.every(isItemId) && isIndex(candidate.index);
    case 'mirrorForget':
      return true;
    case 'mirrorLease':
      return typeof candidate.validUntilMs === 'number' && Number.isFinite(candidate.validUntilMs);
    default:
      return false;
  }
}
