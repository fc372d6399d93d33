// A membership change sent to the gateway as the runbook tells an operator to: a 503 (no leader for a moment, a
// learner still catching up, an answer that gave up while the change committed) or no answer at all is sent
// again; after one, a refusal saying the change is done already (409 "is not a member" / "is already a member")
// is success. Anything else than 200 fails the test. Needs a gateway's URL.
import * as assert from 'uvu/assert';
import { eventually, http, type HttpAnswer } from './pygmy-process.js';

/** Sends `method path` until it is answered 200 (or done already, see above); throws after `timeoutMs`. */
export function changeMembers(url: string, method: 'POST' | 'DELETE', path: string, body?: string, timeoutMs = 30_000): Promise<HttpAnswer> {
  let maybeDone = false;
  return eventually(`${method} ${path}`, async () => {
    const answer = await http(method, `${url}${path}`, { ...(body === undefined ? {} : { body }), timeoutMs: 15_000 }).catch((error: unknown) => {
      maybeDone = true;
      throw error;
    });
    if (answer.status === 503) {
      maybeDone = true;
      return undefined;
    }
    if (maybeDone && answer.status === 409 && /is not a member|is already a member/.test(answer.text)) return answer;
    assert.is(answer.status, 200, `${method} ${path}: ${answer.text}`);
    return answer;
  }, timeoutMs, 200);
}
