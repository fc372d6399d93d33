// A backup through a gateway that did not make the membership changes copies live members only. On `pygmy
// start`'s cluster the catalog gains catalog-4 and loses catalog-1 and the order group gains order-4 and loses
// order-1; each removal is proposed straight to the leader, as a change a gateway on another host made whose
// removed member's node did not answer (so its actor still runs, out of the group, with a state that no longer
// moves). A second gateway, made from the start-up lists catalog-1..3 and order-1..3 and told of no change, then
// backs up: every copy must come from a member of the live configuration, and no removed member may be asked for
// a copy. Fails if the backup walks the member lists the gateway was started with.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheName, catalogMembers, orderMembers } from '../../src/cluster/cluster.js';
import { createLogger } from '../../src/cli/logger.js';
import { ActorBackend, type ActorPort } from '../../src/http/actor-backend.js';
import type { ReplicaGroup } from '../../src/http/backend.js';
import { withInProcessCluster } from '../support/in-process-cluster.js';
import { changeMembers } from '../support/membership-change.js';
import { eventually, http } from '../support/pygmy-process.js';
import { placeOrders } from '../support/orders.js';

interface View {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly leader: string | null;
}

async function viewOf(url: string, group: ReplicaGroup): Promise<View> {
  return eventually(`a ${group} leader`, async () => {
    const answer = (await http('GET', `${url}/admin/groups/${group}/members`)).json();
    return answer.ok && answer.result.leader !== null ? answer.result as View : undefined;
  }, 20_000);
}

test('a gateway told of no change backs up from the live configuration, never from a removed member', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  const removed: Record<ReplicaGroup, string> = { catalog: 'catalog-1', order: 'order-1' };
  for (const group of ['catalog', 'order'] as const) {
    await changeMembers(url, 'POST', `/admin/groups/${group}/members`, JSON.stringify({ name: `${group}-4` }));
    // The member to remove must not lead: the removal is proposed to the leader directly, without the gateway.
    const view = await viewOf(url, group);
    if (view.leader === removed[group]) {
      await cluster.system.ask(view.leader, { type: 'transferLeadership', to: `${group}-2` }, { timeoutMs: 5_000 }).catch(() => undefined);
      await eventually(`a ${group} leader other than ${removed[group]}`, async () => {
        const now = await viewOf(url, group);
        return now.leader !== removed[group] ? now : undefined;
      }, 20_000);
    }
    // A leader just elected refuses a change until an entry of its term commits (leaderNotReady): asked again.
    await eventually(`${removed[group]} removed`, async () => {
      const leader = (await viewOf(url, group)).leader!;
      const answer = await cluster.system.ask<{ ok: boolean; error?: string }>(leader, { type: 'changeMembership', change: { type: 'remove', node: removed[group] } }, { timeoutMs: 5_000 });
      if (answer.ok) return true;
      assert.ok(['leaderNotReady', 'notLeader', 'busy', 'changeInProgress'].includes(answer.error ?? ''), JSON.stringify(answer));
      return undefined;
    }, 20_000, 100);
    const after = await viewOf(url, group);
    assert.not.ok(after.voters.includes(removed[group]), `${removed[group]} is still a voter`);
    assert.ok(after.voters.includes(`${group}-4`), `${group}-4 is not a voter`);
  }
  assert.ok((await cluster.system.status()).some((status) => status.name === 'catalog-1' && status.alive), 'the removed catalog-1 still runs');
  // Orders after the changes, so a copy from a removed member (whose state stopped moving) would lack them.
  assert.is(await placeOrders(url, 3), 3);

  // The second gateway: start-up lists only, every ask it sends recorded.
  const asked: Array<{ readonly target: string; readonly type: string }> = [];
  const system = cluster.system;
  const actors: ActorPort = {
    ask: ((target: string, message: unknown, options?: { timeoutMs?: number }) => {
      asked.push({ target, type: String((message as { type?: unknown }).type) });
      return system.ask(target, message, options);
    }) as ActorPort['ask'],
    status: () => system.status(),
    kill: (name) => system.kill(name),
    stop: (name) => system.stop(name),
    startActor: (name) => system.startActor(name),
    isolate: (name) => system.isolate(name),
    heal: (name) => system.heal(name),
  };
  const log = createLogger({ level: 'warn', pretty: false, destination: { write: () => true } });
  const stale = new ActorBackend({ actors, catalogMembers: [...catalogMembers], orderMembers: [...orderMembers], cacheName, log, readThroughCache: true });
  const directory = mkdtempSync(join(tmpdir(), 'pygmy-backup-members-'));
  try {
    const backups = await stale.backup(directory);
    assert.equal(backups.map((backup) => backup.group), ['order', 'catalog']);
    for (const backup of backups) {
      const live = await viewOf(url, backup.group);
      assert.ok([...live.voters, ...live.learners].includes(backup.member), `the ${backup.group} copy came from ${backup.member}, not a member of ${live.voters.join(', ')}`);
    }
    const backupAsks = asked.filter((ask) => ask.type.startsWith('backup'));
    assert.ok(backupAsks.length >= 2, JSON.stringify(asked));
    // (Its group clients may still try a removed member for other calls: they follow the configuration from the
    // answers, client.ts.)
    for (const name of Object.values(removed)) {
      assert.not.ok(backupAsks.some((ask) => ask.target === name), `the removed ${name} was asked for a copy: ${JSON.stringify(backupAsks)}`);
    }
  } finally {
    stale.close();
    rmSync(directory, { recursive: true, force: true });
  }
}));

test.run();
