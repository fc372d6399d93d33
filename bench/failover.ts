// Failover timings of the single-process cluster (not a test: figures for people, medians over repeated runs).
//
//   node dist/bench/failover.js [--runs 10] [--mode stop|kill|isolate] [--group catalog|order]
//
// Each run: find the group's leader, stop it gracefully (`stop`: leadership is handed over first), crash it
// (`kill`: its thread ends, and the runtime tells its peers at once), or cut it off (`isolate`: nobody is told;
// the followers must time out and elect), then place orders in a tight loop until one succeeds. Reports the
// time from the fault to the first successful order (median, max), then starts the replica again and waits for
// it to catch up before the next run. Also prints the time from start to ready and the process RSS.
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../src/cluster/cluster.js';
import { createLogger } from '../src/cli/logger.js';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, mode: { type: 'string' }, group: { type: 'string' } },
});
const runs = Number(values.runs ?? 10);
const mode = (values.mode ?? 'stop') as 'stop' | 'kill' | 'isolate';
if (!['stop', 'kill', 'isolate'].includes(mode)) throw new Error(`--mode must be stop, kill or isolate, not ${mode}`);
const group = (values.group ?? 'catalog') as 'catalog' | 'order';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-failover-'));
  // PYGMY_BENCH_LOG=1 shows the cluster's log on standard error, to see what a slow run did.
  const logger = process.env.PYGMY_BENCH_LOG
    ? createLogger({ level: 'info', pretty: true, destination: process.stderr })
    : createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  // Many kills in a row are the point here, so the supervisor's intensity limit is raised for this run.
  const cluster = await startCluster({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger, maxRestarts: 1_000 });
  const rssIdleMb = process.memoryUsage().rss / 2 ** 20;
  console.log(`start to ready: ${cluster.startedInMs} ms; RSS idle ${rssIdleMb.toFixed(0)} MiB (main thread + 7 workers share one process)`);
  await fetch(`${cluster.url}/admin/items/1`, { method: 'POST', body: JSON.stringify({ restock: 100_000 }) });
  const gaps: number[] = [];
  try {
    for (let run = 0; run < runs; run += 1) {
      const status = await cluster.backend.cluster();
      const leader = status.leaders[group];
      if (!leader) throw new Error(`no ${group} leader before run ${run}`);
      const faultAt = performance.now();
      await (mode === 'stop' ? cluster.system.stop(leader) : mode === 'kill' ? cluster.system.kill(leader) : cluster.system.isolate(leader));
      const giveUpAt = performance.now() + 15_000;
      for (let attempt = 0; attempt < 10_000; attempt += 1) {
        if (performance.now() > giveUpAt) throw new Error(`no successful order within 15 s of the ${mode} of ${leader}`);
        const answer = await fetch(`${cluster.url}/order/1?amount=1`, { method: 'POST' }).catch(() => null);
        if (answer && answer.status === 200 && (await answer.text()) === 'true') break;
      }
      gaps.push(performance.now() - faultAt);
      if (mode === 'stop') await cluster.system.startActor(leader);
      if (mode === 'isolate') await cluster.system.heal(leader);
      for (let wait = 0; wait < 200; wait += 1) {
        const view = await cluster.backend.cluster();
        const restarted = view.actors.find((actor) => actor.name === leader);
        const current = view.actors.find((actor) => actor.name === view.leaders[group]);
        if (restarted?.alive && current && restarted.lastApplied === current.commitIndex) break;
        await sleep(25);
      }
      console.log(`run ${run + 1}: ${mode} ${leader} → next successful order after ${gaps.at(-1)!.toFixed(0)} ms`);
    }
    const sorted = [...gaps].sort((a, b) => a - b);
    console.log(`${mode} of the ${group} leader, ${runs} runs: median ${percentile(sorted, 0.5).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`);
    console.log(`RSS after the runs: ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await cluster.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
