// The gateway's dashboard routes: the page and its files (`GET /`, `/dashboard/*`) and the live feed (`/events`),
// wired to the gateway's cluster status and live metrics.
//
// Owns: that wiring only; the answers themselves are src/http/dashboard/http.ts's, the feed is feed.ts's.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Backend } from '../backend.js';
import { DashboardFeed, type FeedOptions } from '../dashboard/feed.js';
import { DashboardHttp, type DashboardAsset } from '../dashboard/http.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Responder } from './reply.js';

export class DashboardRoutes {
  readonly dashboard: DashboardHttp;

  constructor(backend: Backend, metrics: GatewayMetrics, private readonly responder: Responder, options: Omit<FeedOptions, 'clusterStatus' | 'sampler'> | undefined) {
    const feedOptions = { ...options, clusterStatus: () => backend.cluster(), sampler: metrics.live };
    this.dashboard = new DashboardHttp(new DashboardFeed(feedOptions));
  }

  get feed(): DashboardFeed {
    return this.dashboard.feed;
  }

  asset(response: ServerResponse, asset: DashboardAsset, started: number): Promise<void> {
    return this.responder.recorded('dashboard', started, this.dashboard.serveAsset(response, asset));
  }

  events(request: IncomingMessage, response: ServerResponse, started: number): Promise<void> {
    return this.responder.recorded('events', started, this.dashboard.serveEvents(request, response));
  }
}
