// An idle Raft group sleeps: three catalog replicas (workers, SQLite) with a leader and no load. Each replica's tick
// timer must fire about once per election timeout on a follower and once per heartbeat on the leader, not on every
// 50 ms tick; and the group must still elect a new leader soon after its leader stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateCatalog } from '../../src/actors/catalog/generate.js';
import { catalogMembers } from '../../src/cluster/cluster.js';
import { electionTicksDefault, heartbeatTicksDefault } from '../../src/raft/replica.js';
import { ActorSystem } from '../../src/runtime/system.js';
import { capturingLogger, type LogLine } from '../runtime/helpers.js';
import { catalogReplicaSpecs, replicaStatuses, waitForLeader } from './fixtures/catalog-replicas.js';

const tickMs = 50;
const windowMs = 3_000;

test('an idle group wakes per heartbeat and per election timeout, not per tick, and still replaces a stopped leader', async () => {
  // Over 3 s (60 ticks) a follower may wake for its timer about once per shortest election timeout (the default
  // electionTicks) plus one; the leader once per heartbeat (heartbeatTicks) and once per quorum check
  // (electionTicks), plus one. Waking on every tick would be 60 each.
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-idle-ticks-'));
  const catalog = generateCatalog({ items: 20, topics: 2, seed: 5 });
  const specs = catalogReplicaSpecs({ dataDir, catalog, tickMs });
  const lines: LogLine[] = [];
  const system = new ActorSystem({ logger: capturingLogger(lines) });
  try {
    await system.start(specs);
    const leader = await waitForLeader(system);
    const before = await replicaStatuses(system);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await replicaStatuses(system);
    const ticks = windowMs / tickMs;
    for (const [index, status] of after.entries()) {
      const wakeups = status.tickWakeups - before[index]!.tickWakeups;
      // Half as many again: a heartbeat that arrives late on a busy machine lets a follower's timer fire before the
      // next one moves its deadline. Waking on every tick would still be four times this at the default.
      const election = Math.ceil((1.5 * ticks) / electionTicksDefault);
      const bound = status.name === leader ? Math.ceil(ticks / heartbeatTicksDefault) + election + 1 : election + 1;
      assert.ok(wakeups <= bound, `${status.name} (${status.role}) woke ${wakeups} times in ${windowMs} ms, more than ${bound}`);
      assert.is(status.term, before[index]!.term, `${status.name}: no election while idle`);
    }
    const leaderWakeups = after.find((status) => status.name === leader)!.tickWakeups - before.find((status) => status.name === leader)!.tickWakeups;
    assert.ok(leaderWakeups >= Math.floor(ticks / heartbeatTicksDefault / 2), `the leader woke only ${leaderWakeups} times: its heartbeats are late`);
    // Sleeping must not slow the election: cut off without handing over, the leader is replaced within 2 s.
    const others = catalogMembers.filter((name) => name !== leader);
    await system.isolate(leader);
    const started = Date.now();
    await waitForLeader(system, others, 5_000);
    const electedMs = Date.now() - started;
    assert.ok(electedMs < 2_000, `a new leader took ${electedMs} ms`);
  } finally {
    await system.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
