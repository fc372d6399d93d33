// The cache actor's `confirm` (read-your-writes without a second invalidation), driven by hand through a fake
// actor context: the replicas' subscribe answers and pushes arrive when the test says, and time moves by hand.
// Checks: a confirmation is answered true only once the chain reached its index (by a push, by a replica showing
// nothing was missed, or by a jump that forgot everything), its mirror notices are told before it, and it is
// answered false when its ask's deadline comes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import cacheActor, { type CacheMessage } from '../../src/actors/cache/actor.js';
import type { ActorContext, Reply } from '../../src/runtime/actor.js';

type SubscribeAnswer = { ok: boolean; role?: string; commitIndex?: number; lastApplied?: number; changeIndex?: number };

function harness() {
  const clock = { nowMs: 1_000 };
  const events: string[] = [];
  const subscribes: Array<(answer: SubscribeAnswer) => void> = [];
  let deferred: Reply | null = null;
  const context: ActorContext = {
    self: 'cache',
    log: { debug() {}, info() {}, warn() {}, error() {} },
    sender: null,
    // Lease grants are beside the point here; invalidations and forgets are what a confirmation must follow.
    tell: (_target, message) => {
      if ((message as { type: string }).type !== 'mirrorLease') events.push(`tell ${JSON.stringify(message)}`);
    },
    ask: <R>(_target: string, message: unknown) => {
      if ((message as { type: string }).type !== 'subscribe') return Promise.reject(new Error('unexpected ask'));
      return new Promise<R>((resolve) => subscribes.push((answer) => resolve(answer as R)));
    },
    deferReply: () => {
      const reply: Reply = {
        resolve: (value) => events.push(`answer ${JSON.stringify(value)}`),
        reject: (error) => events.push(`error ${error.message}`),
        deadlineAtMs: clock.nowMs + 200,
      };
      deferred = reply;
      return reply;
    },
    setTimer: () => {},
    cancelTimer: () => {},
    now: () => clock.nowMs,
  };
  const state = cacheActor.init({ catalogMembers: ['catalog-1'] }, context) as never;
  const send = (message: CacheMessage): unknown => {
    deferred = null;
    const answer = cacheActor.receive(state, message, context);
    if (deferred === null && answer !== undefined && message.type === 'confirm') events.push(`answer ${JSON.stringify(answer)}`);
    return answer;
  };
  const answerSubscribes = async (answer: SubscribeAnswer) => {
    for (const resolve of subscribes.splice(0)) resolve(answer);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { clock, events, send, answerSubscribes };
}

const leader = (lastApplied: number, changeIndex: number): SubscribeAnswer => ({ ok: true, role: 'leader', commitIndex: lastApplied, lastApplied, changeIndex });

/** A harness whose subscription was answered with `answer`, with the events that answer caused cleared. */
async function subscribedHarness(answer: SubscribeAnswer): Promise<ReturnType<typeof harness>> {
  const subscribed = harness();
  await subscribed.answerSubscribes(answer);
  subscribed.events.length = 0;
  return subscribed;
}

test('a confirmation waits for the push of its change, and is answered after the mirror heard of it', async () => {
  const { events, send, answerSubscribes } = await subscribedHarness(leader(4, 3));
  send({ type: 'invalidate', items: [1], index: 5, previousChangeIndex: 3 });
  events.length = 0;
  send({ type: 'confirm', index: 5 });
  assert.equal(events, ['answer true'], 'a change already applied is confirmed at once');
  events.length = 0;
  send({ type: 'confirm', index: 9 });
  assert.equal(events, [], 'not yet: the push of 9 has not arrived');
  send({ type: 'invalidate', items: [2], index: 9, previousChangeIndex: 5 });
  assert.equal(events, ['tell {"type":"mirrorInvalidate","items":[2],"index":9}', 'answer true']);
});

test('an index that changed nothing is confirmed once a replica shows no change was missed up to it', async () => {
  // A repeated deduct commits at 12 and changes nothing: no push will come; the leader applied through 12 and its
  // latest change is 9, which the chain has reached.
  const { events, send, answerSubscribes } = await subscribedHarness(leader(8, 7));
  send({ type: 'invalidate', items: [2], index: 9, previousChangeIndex: 7 });
  events.length = 0;
  send({ type: 'confirm', index: 12 });
  assert.equal(events, []);
  await answerSubscribes(leader(11, 9));
  assert.equal(events, [], 'applied through 11 only: 12 is not covered');
  send({ type: 'renewLease' });
  await answerSubscribes(leader(12, 9));
  assert.equal(events, ['answer true']);
});

test('a replica past a push that never arrived makes the cache forget everything, which confirms', async () => {
  const { events, send, answerSubscribes } = await subscribedHarness(leader(4, 3));
  send({ type: 'confirm', index: 15 });
  await answerSubscribes(leader(15, 15));
  assert.ok(events.includes('tell {"type":"mirrorForget"}'), events.join('; '));
  assert.is(events.at(-1), 'answer true');
  assert.ok(events.indexOf('tell {"type":"mirrorForget"}') < events.indexOf('answer true'));
});

test('a confirmation whose ask deadline passes is answered false', async () => {
  const { clock, events, send } = await subscribedHarness(leader(4, 3));
  send({ type: 'confirm', index: 20 });
  clock.nowMs += 100;
  send({ type: 'mirrorLease' });
  assert.not.ok(events.includes('answer false'), 'within its deadline it waits');
  clock.nowMs += 150;
  send({ type: 'mirrorLease' });
  assert.ok(events.includes('answer false'), events.join('; '));
});

test('confirm is validated at the boundary', () => {
  assert.ok(cacheActor.isMessage!({ type: 'confirm', index: 3 }));
  assert.not.ok(cacheActor.isMessage!({ type: 'confirm', index: -1 }));
  assert.not.ok(cacheActor.isMessage!({ type: 'confirm', index: 1.5 }));
  assert.not.ok(cacheActor.isMessage!({ type: 'confirm' }));
});

test.run();
