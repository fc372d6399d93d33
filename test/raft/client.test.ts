// GroupClient over a fake ask: how reads spread over the members, how a down member is skipped, how writes
// follow the leader's redirect, and how the members follow the configuration the answers carry. No workers: each
// test plays the members' answers by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupClient, GroupRefusedError, GroupUnavailableError } from '../../src/raft/client.js';

const members = ['catalog-1', 'catalog-2', 'catalog-3'];
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

class Unavailable extends Error {}

type Asked = { type: string; knownConfigIndex?: number };

function makeClient(answer: (target: string, message: Asked) => unknown) {
  const asked: string[] = [];
  const client = new GroupClient({
    group: 'catalog',
    members,
    isUnavailable: (error) => error instanceof Unavailable,
    ask: (target, message) => {
      asked.push(target);
      try {
        return Promise.resolve(answer(target, message as Asked));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  });
  return { client, asked };
}

const readOk = { ok: true, index: 7, result: 'value' };

test('reads started in one turn go to one member; each new turn starts at the next member', async () => {
  // Reads of one turn share a member so the runtime sends them in one frame; over turns all members serve.
  const { client, asked } = makeClient(() => readOk);
  const servedBy: string[][] = [];
  for (let turn = 0; turn < 4; turn += 1) {
    const answers = await Promise.all([0, 1, 2, 3].map(() => client.read({ type: 'lookup' }, Date.now() + 1_000)));
    servedBy.push(answers.map((answer) => answer.servedBy));
    await nextTurn();
  }
  assert.equal(servedBy, [
    ['catalog-1', 'catalog-1', 'catalog-1', 'catalog-1'],
    ['catalog-2', 'catalog-2', 'catalog-2', 'catalog-2'],
    ['catalog-3', 'catalog-3', 'catalog-3', 'catalog-3'],
    ['catalog-1', 'catalog-1', 'catalog-1', 'catalog-1'],
  ]);
  assert.is(asked.length, 16);
});

test('a member that refuses as unavailable is skipped by the reads of later turns until its down time ends', async () => {
  // catalog-2 is down: the read that lands on it retries on catalog-3 at once, and later turns never ask it.
  const { client, asked } = makeClient((target) => {
    if (target === 'catalog-2') throw new Unavailable('stopped');
    return readOk;
  });
  const served: string[] = [];
  for (let turn = 0; turn < 4; turn += 1) {
    served.push((await client.read({ type: 'lookup' }, Date.now() + 1_000)).servedBy);
    await nextTurn();
  }
  assert.equal(served, ['catalog-1', 'catalog-3', 'catalog-3', 'catalog-1']);
  assert.is(asked.filter((target) => target === 'catalog-2').length, 1);
});

test('writes follow the leader named in a refusal, then go to it directly', async () => {
  // A follower answers notLeader naming catalog-3; the write must land there, and the next one go there first.
  const { client, asked } = makeClient((target) =>
    target === 'catalog-3' ? { ok: true, index: 9, result: 'done' } : { ok: false, error: 'notLeader', leader: 'catalog-3' },
  );
  const first = await client.propose('{}', Date.now() + 1_000);
  assert.is(first.servedBy, 'catalog-3');
  asked.length = 0;
  await client.propose('{}', Date.now() + 1_000);
  assert.equal(asked, ['catalog-3']);
});

test('after a membership change, writes follow a leader the bootstrap list did not name', async () => {
  // catalog-4 was added and leads: before setMembers its name in a redirect is not followed; after, it is.
  const { client, asked } = makeClient((target) =>
    target === 'catalog-4' ? { ok: true, index: 9, result: 'done' } : { ok: false, error: 'notLeader', leader: 'catalog-4' },
  );
  let before: unknown = null;
  try {
    await client.propose('{}', Date.now() + 300);
  } catch (error) {
    before = error;
  }
  assert.ok(before instanceof GroupUnavailableError, 'a redirect to a name outside the list was followed');
  client.setMembers(['catalog-1', 'catalog-2', 'catalog-4']);
  asked.length = 0;
  const after = await client.propose('{}', Date.now() + 1_000);
  assert.is(after.servedBy, 'catalog-4');
  assert.not.ok(asked.includes('catalog-3'), 'a removed member was still tried');
});

test('a query refused as badQuery throws GroupRefusedError at once; no other member is asked', async () => {
  // Every member runs the same state machine, so a query one refuses the others refuse too.
  const { client, asked } = makeClient(() => ({ ok: false, error: 'badQuery', detail: 'lookup id must be a positive integer', leader: 'catalog-2' }));
  try {
    await client.read({ type: 'lookup' }, Date.now() + 1_000);
    assert.unreachable('the read should have been refused');
  } catch (error) {
    assert.instance(error, GroupRefusedError);
    assert.match((error as Error).message, 'badQuery (lookup id must be a positive integer)');
  }
  assert.is(asked.length, 1);
});

test('an answer that is neither accepted nor refused is not returned: the next member answers', async () => {
  const { client, asked } = makeClient((target) => (target === 'catalog-1' ? { ok: 'yes' } : readOk));
  const answer = await client.read({ type: 'lookup' }, Date.now() + 1_000);
  assert.is(answer.servedBy, 'catalog-2');
  assert.equal(asked, ['catalog-1', 'catalog-2']);
});

test('propose sends the command as the JSON text the log carries', async () => {
  const sent: unknown[] = [];
  const client = new GroupClient({
    group: 'catalog', members, isUnavailable: () => false,
    ask: (_target, message) => {
      sent.push(message);
      return Promise.resolve({ ok: true, index: 3, result: null });
    },
  });
  await client.propose({ type: 'restock', requestId: 'r', item: 1, amount: 2 }, Date.now() + 1_000);
  assert.equal(sent, [{ type: 'propose', data: '{"type":"restock","requestId":"r","item":1,"amount":2}', knownConfigIndex: 0 }]);
});

test('a call that no member answers before its deadline throws GroupUnavailableError', async () => {
  const { client } = makeClient(() => {
    throw new Unavailable('down');
  });
  try {
    await client.read({ type: 'lookup' }, Date.now() + 50);
    assert.unreachable('the read should have failed');
  } catch (error) {
    assert.instance(error, GroupUnavailableError);
  }
});

/** Plays a group that moved onto catalog-4 and catalog-5 (configuration at index 40): the old members refuse. */
const moved = { index: 40, voters: ['catalog-4', 'catalog-5'], learners: [] };
function movedGroup(target: string, message: Asked): unknown {
  const configuration = (message.knownConfigIndex ?? 0) < moved.index ? { configuration: moved } : {};
  if (target === 'catalog-4') return { ok: true, index: 50, result: 'done', ...configuration };
  if (target === 'catalog-5') return { ok: false, error: 'notLeader', leader: 'catalog-4', ...configuration };
  if (target === 'catalog-1') return { ok: false, error: 'notLeader', leader: 'catalog-4', ...configuration };
  throw new Unavailable('removed');
}

test('a refusal carrying a newer configuration: its members are tried, the leader it names is followed', async () => {
  // The client knows only the bootstrap members; catalog-1 (still running) refuses and names catalog-4 and the
  // configuration that holds it. Without following it, the write could never reach catalog-4.
  const { client, asked } = makeClient(movedGroup);
  const answer = await client.propose('{}', Date.now() + 1_000);
  assert.is(answer.servedBy, 'catalog-4');
  assert.equal(client.configuration, { index: 40, members: ['catalog-4', 'catalog-5'] });
  asked.length = 0;
  for (let turn = 0; turn < 3; turn += 1) {
    await client.read({ type: 'lookup' }, Date.now() + 1_000).catch(() => undefined);
    await nextTurn();
  }
  assert.ok(asked.every((target) => target === 'catalog-4' || target === 'catalog-5'), `asked ${asked.join(', ')}`);
});

test('every ask names the configuration held; members answer it only while the asker is behind', async () => {
  const known: number[] = [];
  let answersWithConfiguration = 0;
  const { client } = makeClient((target, message) => {
    known.push(message.knownConfigIndex ?? -1);
    const answer = movedGroup(target, message) as Record<string, unknown>;
    if ('configuration' in answer) answersWithConfiguration += 1;
    return answer;
  });
  await client.propose('{}', Date.now() + 1_000);
  await client.propose('{}', Date.now() + 1_000);
  assert.equal(known, [0, 40, 40]);
  assert.is(answersWithConfiguration, 1);
});

test('an older configuration never replaces a newer one, from an answer or from setMembers', async () => {
  // catalog-4 (newer, index 40) is followed first; catalog-2 then answers with the configuration at index 10.
  const older = { index: 10, voters: ['catalog-1', 'catalog-2', 'catalog-3'], learners: [] };
  const { client } = makeClient((target, message) => {
    if (target === 'catalog-4' || target === 'catalog-5') return { ok: true, index: 50, result: 'done', configuration: older };
    return movedGroup(target, message);
  });
  await client.propose('{}', Date.now() + 1_000);
  assert.equal(client.configuration, { index: 40, members: ['catalog-4', 'catalog-5'] });
  await client.read({ type: 'lookup' }, Date.now() + 1_000);
  assert.equal(client.configuration, { index: 40, members: ['catalog-4', 'catalog-5'] });
  client.setMembers(['catalog-1'], 39);
  assert.equal(client.configuration.members, ['catalog-4', 'catalog-5']);
  client.setMembers(['catalog-4', 'catalog-5', 'catalog-6'], 41);
  assert.equal(client.configuration, { index: 41, members: ['catalog-4', 'catalog-5', 'catalog-6'] });
});

test('a configuration that is not one (no voter, too many members, a bad index) is not followed', async () => {
  const bad: unknown[] = [
    { index: 40, voters: [], learners: ['catalog-4'] },
    { index: 40, voters: Array.from({ length: 10 }, (_unused, position) => `catalog-${position + 4}`), learners: [] },
    { index: -1, voters: ['catalog-4'], learners: [] },
    { index: 40, voters: ['catalog-4', 7], learners: [] },
    'catalog-4',
  ];
  for (const configuration of bad) {
    const { client } = makeClient(() => ({ ok: true, index: 3, result: 'value', configuration }));
    await client.read({ type: 'lookup' }, Date.now() + 1_000);
    assert.equal(client.configuration, { index: 0, members }, JSON.stringify(configuration));
  }
});

test('the members followed are announced once per change', async () => {
  const announced: Array<{ members: readonly string[]; index: number }> = [];
  const client = new GroupClient({
    group: 'catalog', members, isUnavailable: (error) => error instanceof Unavailable,
    ask: (target, message) => {
      try {
        return Promise.resolve(movedGroup(target, message as Asked));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    onMembersChanged: (changed, index) => announced.push({ members: [...changed], index }),
  });
  await client.propose('{}', Date.now() + 1_000);
  await client.propose('{}', Date.now() + 1_000);
  client.setMembers(['catalog-5', 'catalog-4'], 45);
  assert.equal(announced, [{ members: ['catalog-4', 'catalog-5'], index: 40 }]);
});

test.run();
