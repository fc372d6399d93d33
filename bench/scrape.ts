// The `scrape` scenario: what `GET /metrics` costs. On an idle cluster, the time of one scrape (sequential
// scrapes, median and max); under lookup-hit load, req/s with a scrape every second against req/s without,
// in alternating runs so that a drift of the machine's speed falls on both sides.
import type { RunOptions, ScenarioFigures } from './load.js';
import { runScenario } from './load.js';

export interface ScrapeFigures {
  idleScrapes: number;
  idleScrapeMsMedian: number;
  idleScrapeMsMax: number;
  scrapeBytes: number;
  /** lookup-hit req/s of each run without scraping, and with a scrape every second. */
  rpsWithout: number[];
  rpsWith: number[];
  /** median(with) / median(without). */
  ratio: number;
  /** Scrapes made during the runs with scraping, and the slowest of them. */
  loadedScrapes: number;
  loadedScrapeMsMax: number;
}

const idleScrapes = 20;
const runsEach = 2;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function scrapeOnce(url: string): Promise<{ ms: number; bytes: number }> {
  const startedMs = performance.now();
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return { ms: performance.now() - startedMs, bytes: Buffer.byteLength(text) };
}

export async function runScrape(options: Omit<RunOptions, 'name'>): Promise<{ row: ScenarioFigures; figures: ScrapeFigures }> {
  const idle: number[] = [];
  let scrapeBytes = 0;
  for (let index = 0; index < idleScrapes; index += 1) {
    const scrape = await scrapeOnce(options.url);
    idle.push(scrape.ms);
    scrapeBytes = scrape.bytes;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const rpsWithout: number[] = [];
  const rpsWith: number[] = [];
  const loaded: number[] = [];
  let lastWith: ScenarioFigures | null = null;
  for (let run = 0; run < runsEach * 2; run += 1) {
    const scraping = run % 2 === 1;
    const timer = scraping ? setInterval(() => void scrapeOnce(options.url).then((scrape) => loaded.push(scrape.ms), () => loaded.push(Number.POSITIVE_INFINITY)), 1_000) : null;
    try {
      const figures = await runScenario({ ...options, name: 'lookup-hit' });
      (scraping ? rpsWith : rpsWithout).push(figures.rps);
      if (scraping) lastWith = figures;
    } finally {
      if (timer !== null) clearInterval(timer);
    }
  }
  const figures: ScrapeFigures = {
    idleScrapes,
    idleScrapeMsMedian: Math.round(median(idle) * 10) / 10,
    idleScrapeMsMax: Math.round(Math.max(...idle) * 10) / 10,
    scrapeBytes,
    rpsWithout,
    rpsWith,
    ratio: Math.round((median(rpsWith) / median(rpsWithout)) * 1_000) / 1_000,
    loadedScrapes: loaded.length,
    loadedScrapeMsMax: Math.round(Math.max(0, ...loaded) * 10) / 10,
  };
  const row: ScenarioFigures = { ...lastWith!, rps: Math.round(median(rpsWith)), scrape: figures, measuredAt: new Date().toISOString() };
  return { row, figures };
}
