// A member added while the group's leader is itself a member added later (not one of the bootstrap names), on
// `pygmy start`'s cluster (in-process). The runbook's repair, done twice: catalog-4 added, catalog-1..3 removed
// (the leader among them), so catalog-4 is the only voter and leads; then catalog-5 is added. The add must end
// with catalog-5 a voter (an add answered 503 is sent again, as the runbook says, a few times), and the store
// still sells. Shows that a new member admits the current leader's messages, whatever its name: today it is
// given the bootstrap names as its peers, refuses catalog-4 as "notAPeer", is promoted all the same (its empty
// log is within the promotion bound of a short log), and the catalog group of two has no quorum from then on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withInProcessCluster } from '../support/in-process-cluster.js';
import { http, sleep } from '../support/pygmy-process.js';

const membersPath = '/admin/groups/catalog/members';

test('a member added under a leader that was itself added later catches up and is promoted', () => withInProcessCluster(async (cluster) => {
  const url = cluster.url;
  // A change answered 503 (no leader in time: a removed leader hands over) or 409 while the new leader has no entry
  // of its term committed yet is sent again, a few times at most.
  const change = async (method: 'POST' | 'DELETE', name: string) => {
    const send = () => (method === 'POST'
      ? http('POST', `${url}${membersPath}`, { body: JSON.stringify({ name }), timeoutMs: 15_000 })
      : http('DELETE', `${url}${membersPath}/${name}`, { timeoutMs: 15_000 }));
    let answer = await send();
    const passing = (status: number, text: string) => status === 503 || (status === 409 && text.includes('committed yet'));
    for (let again = 1; passing(answer.status, answer.text) && again <= 20; again += 1) {
      console.log(`member-under-added-leader: ${method} ${name} answered ${answer.status} ${answer.text.trim()}; again`);
      await sleep(500);
      answer = await send();
    }
    return answer;
  };
  assert.is((await change('POST', 'catalog-4')).status, 200);
  for (const name of ['catalog-1', 'catalog-2', 'catalog-3']) {
    const answer = await change('DELETE', name);
    assert.is(answer.status, 200, `${name}: ${answer.text}`);
  }
  const alone = (await http('GET', `${url}${membersPath}`)).json().result;
  assert.equal(alone.voters, ['catalog-4']);
  assert.is(alone.leader, 'catalog-4');

  const answer = await change('POST', 'catalog-5');
  // The store must still sell whatever the add answered: a new voter that cannot follow the leader leaves a group
  // of two without a quorum.
  const order = await http('POST', `${url}/order/1?amount=1`, { timeoutMs: 10_000 });
  assert.is(order.text, 'true', `an order after adding catalog-5: ${order.status} ${order.text}`);
  assert.is(answer.status, 200, `catalog-5: ${answer.text}`);
  const grown = (await http('GET', `${url}${membersPath}`)).json().result;
  assert.equal([...grown.voters].sort(), ['catalog-4', 'catalog-5']);
  assert.equal(grown.learners, []);
}));

test.run();
