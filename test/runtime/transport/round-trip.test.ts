// The round-trip probe on the heartbeats (handshake.ts): a ping's optional sentAt/echo/heldMs are parsed only
// when they are finite non-negative milliseconds (anything else leaves a plain heartbeat, never a closed
// connection or a thrown error); the sample is the receiver's now − echo − the peer's hold, so the time a probe
// waited for the peer's next heartbeat is not counted; an echo from the future, a negative or an absurd sample is
// no sample.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseControl, roundTripMsMax, roundTripSampleMs } from '../../../src/runtime/transport/handshake.js';

test('a ping with the probe, with half of it, and with garbage in it', () => {
  assert.equal(parseControl('{"type":"ping"}'), { type: 'ping' });
  assert.equal(parseControl('{"type":"ping","sentAt":10,"echo":4,"heldMs":3}'), { type: 'ping', sentAt: 10, echo: 4, heldMs: 3 });
  assert.equal(parseControl('{"type":"ping","sentAt":10}'), { type: 'ping', sentAt: 10 });
  assert.equal(parseControl('{"type":"ping","sentAt":10,"echo":"4","heldMs":3}'), { type: 'ping', sentAt: 10 }, 'a bad echo: no sample');
  for (const sentAt of ['-1', '"10"', 'null', '1e400', '[]', '{}']) {
    assert.equal(parseControl(`{"type":"ping","sentAt":${sentAt},"echo":4,"heldMs":3}`), { type: 'ping' }, `sentAt ${sentAt}`);
  }
});

test('the sample leaves out the hold at the peer', () => {
  // Sent at 100 by this side, held 240 ms by the peer until its heartbeat, back at 345: 5 ms on the wire and loops.
  assert.is(roundTripSampleMs({ type: 'ping', sentAt: 7, echo: 100, heldMs: 240 }, 345), 5);
  assert.is(roundTripSampleMs({ type: 'ping', sentAt: 7 }, 345), null, 'no echo: no sample');
  assert.is(roundTripSampleMs({ type: 'ping', echo: 400, heldMs: 0 }, 345), null, 'an echo from the future');
  assert.is(roundTripSampleMs({ type: 'ping', echo: 100, heldMs: 300 }, 345), null, 'a hold longer than the whole trip');
  assert.is(roundTripSampleMs({ type: 'ping', echo: 0, heldMs: 0 }, roundTripMsMax + 1), null, 'a sample past the bound');
});

test.run();
