// The dashboard's HTTP side: the page, its script and style sheet, and the server-sent event stream.
//
// Owns: the answers of the routes `GET /` and `/dashboard` (the page), `/dashboard/app.js`, `/dashboard/style.css`,
// `/dashboard/icon.svg` and `/events`, with their headers. Promises:
// - the page and its files are read once, at start, from `assets/` beside this module's source (they ship in the
//   repository; no build step, no CDN), and are never cached by the browser (`no-store`), so a new version shows
//   on the next load;
// - a strict Content-Security-Policy: scripts, styles and connections from this origin only, no inline script or
//   style, no frames, no forms posting elsewhere; the page works offline;
// - `/events` is a `text/event-stream` of snapshots (see feed.ts), refused with 503 and Retry-After when the feed
//   already has its maximum of subscribers. The page itself shows nothing of the cluster: everything it shows
//   comes from `/events`, which the gateway guards with the operations rule (DESIGN.md §1), like `/cluster`.
// Needs: a DashboardFeed.

import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { DashboardFeed, Subscriber } from './feed.js';

export type DashboardAsset = 'page' | 'script' | 'style' | 'icon';

export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const commonHeaders = {
  'cache-control': 'no-store',
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const files: Record<DashboardAsset, { readonly file: string; readonly type: string }> = {
  page: { file: 'index.html', type: 'text/html; charset=utf-8' },
  script: { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  style: { file: 'style.css', type: 'text/css; charset=utf-8' },
  icon: { file: 'icon.svg', type: 'image/svg+xml' },
};

/**
 * The compiled module runs from dist/src/http/dashboard/; the files stay in the source tree. Both places are
 * tried so that a copy of the files next to the compiled module works as well.
 */
function assetsDirectory(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../../../src/http/dashboard/assets/', import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(`${path}index.html`)) return path;
  }
  throw new Error(`dashboard: assets not found in ${candidates.map((candidate) => fileURLToPath(candidate)).join(' or ')}`);
}

export interface LoadedAsset {
  readonly headers: Readonly<Record<string, string | number>>;
  readonly body: Buffer;
}

export function loadAssets(): Record<DashboardAsset, LoadedAsset> {
  const directory = assetsDirectory();
  const load = (asset: DashboardAsset): LoadedAsset => {
    const body = readFileSync(directory + files[asset].file);
    return { body, headers: { ...commonHeaders, 'content-type': files[asset].type, 'content-length': body.length } };
  };
  return { page: load('page'), script: load('script'), style: load('style'), icon: load('icon') };
}

const streamHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // Proxies that buffer would hold the stream back; this asks nginx-style proxies not to.
  'x-accel-buffering': 'no',
};

const fullHeaders = { 'content-type': 'application/json', 'retry-after': '2', 'cache-control': 'no-store' };
const fullBody = '{"ok":false,"error":"too many dashboards are watching; retry later"}';

export class DashboardHttp {
  private assets: Record<DashboardAsset, LoadedAsset> | null = null;

  constructor(readonly feed: DashboardFeed) {}

  /** Answers the page or one of its files; returns the status for the gateway's metrics. */
  serveAsset(response: ServerResponse, asset: DashboardAsset): number {
    // Read on first use rather than at gateway creation: gateways that never serve the page never touch the disk.
    this.assets ??= loadAssets();
    const loaded = this.assets[asset];
    response.writeHead(200, loaded.headers);
    response.end(loaded.body);
    return 200;
  }

  /** Opens the event stream (it stays open until the client or the gateway closes it); returns the status. */
  serveEvents(request: IncomingMessage, response: ServerResponse): number {
    if (request.method === 'HEAD') {
      response.writeHead(200, streamHeaders);
      response.end();
      return 200;
    }
    const subscriber: Subscriber = {
      write: (text) => response.write(text),
      bufferedBytes: () => response.writableLength,
      close: () => response.end(),
    };
    if (this.feed.subscriberCount >= this.feed.subscribersMax) return this.refuse(response);
    response.writeHead(200, streamHeaders);
    // Ask the browser to wait a second before reconnecting after the stream ends.
    response.write('retry: 1000\n\n');
    response.once('close', () => this.feed.unsubscribe(subscriber));
    if (!this.feed.subscribe(subscriber)) response.end();
    return 200;
  }

  private refuse(response: ServerResponse): number {
    response.writeHead(503, { ...fullHeaders, 'content-length': Buffer.byteLength(fullBody) });
    response.end(fullBody);
    return 503;
  }
}
