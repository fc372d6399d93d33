// Raft messages are checked against their envelope: two real catalog replicas (workers, SQLite) and, in the
// third member's place, an actor that forges messages. A heartbeat naming another receiver, one naming another
// sender, and one from another cluster must each be refused and counted by the replica they reach, which keeps
// running (no restart) and keeps committing. Without the check, the forged receiver trips an invariant of the core
// and crashes the replica. A read whose query the catalog does not take is refused `badQuery`, naming why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCatalogCommand } from '../../src/actors/catalog/commands.js';
import type { CatalogReplicaArgs } from '../../src/actors/catalog/actor.js';
import { clusterSpecs } from '../../src/cluster/cluster.js';
import type { ReplicaStatus } from '../../src/raft/replica.js';
import { ActorSystem } from '../../src/runtime/system.js';
import { capturingLogger, waitFor, type LogLine } from '../runtime/helpers.js';

const forgerModule = new URL('./fixtures/forger.js', import.meta.url);
const real = ['catalog-1', 'catalog-3'];

const status = (system: ActorSystem, name: string) => system.ask<ReplicaStatus>(name, { type: 'status' }, { timeoutMs: 2_000 });

test('a forged from, to or cluster id is refused and counted; the replica keeps running', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pygmy-envelope-'));
  const specs = clusterSpecs({ host: '127.0.0.1', port: 0, dataDir, fresh: true, logger: undefined as never })
    .filter((spec) => real.includes(spec.name))
    .map((spec) => ({ ...spec, args: { ...(spec.args as CatalogReplicaArgs), subscribers: [] } }));
  const lines: LogLine[] = [];
  const system = new ActorSystem({ logger: capturingLogger(lines) });
  try {
    await system.start([...specs, { name: 'catalog-2', module: forgerModule, args: undefined, restart: 'permanent' }]);
    let leader = '';
    await waitFor(async () => {
      for (const name of real) if ((await status(system, name).catch(() => null))?.role === 'leader') leader = name;
      return leader !== '';
    }, 10_000, 'a leader of catalog-1 and catalog-3');
    const target = 'catalog-1';
    const before = await status(system, target);
    const heartbeat = { type: 'heartbeat', term: before.term, commit: 0, context: null };
    const envelope = (message: object, cluster = before.clusterId) => ({ type: 'raft', cluster, replica: 'f0f0f0f0', toReplica: null, voter: true, message });
    const forge = (message: object, cluster?: string) =>
      system.ask('catalog-2', { type: 'forge', target, envelope: envelope(message, cluster) }, { timeoutMs: 2_000 });
    await forge({ ...heartbeat, from: 'catalog-2', to: 'catalog-3' });
    await forge({ ...heartbeat, from: 'catalog-3', to: target });
    await forge({ ...heartbeat, from: 'catalog-2', to: target }, '0123456789abcdef');
    await waitFor(async () => {
      const refused = (await status(system, target)).refusedMessages;
      return refused.forgedTarget === 1 && refused.forgedSender === 1 && refused.otherCluster === 1;
    }, 5_000, 'the three forged messages counted');
    const after = await status(system, target);
    assert.is(after.term, before.term, 'no forged message moved the term');
    const actor = (await system.status()).find((each) => each.name === target)!;
    assert.is(actor.restarts, 0, `${target} did not crash`);
    assert.ok(lines.some((line) => /refused a Raft message \(forgedTarget/.test(line.message)), 'the refusal is logged');
    const data = encodeCatalogCommand({ type: 'restock', requestId: 'after-forgery', item: 1, amount: 1 });
    const answer = await system.ask<{ ok: boolean }>(leader, { type: 'propose', data }, { timeoutMs: 5_000 });
    assert.ok(answer.ok, 'the group still commits');
    const badRead = await system.ask(leader, { type: 'read', query: { type: 'lookup', id: 'one' } }, { timeoutMs: 5_000 });
    assert.equal(badRead, { ok: false, error: 'badQuery', detail: 'lookup id must be a positive integer', leader });
    const goodRead = await system.ask<{ ok: boolean; result: { item: { id: number } } }>(leader, { type: 'read', query: { type: 'lookup', id: 1 } }, { timeoutMs: 5_000 });
    assert.is(goodRead.result.item.id, 1, 'a checked query is answered');
  } finally {
    await system.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
