// The simulator's network keeps the transport contract the runtime's links keep: a pair's SimLink says busy once
// inFlightMax copies are on the wire, the replica's DrainGate then holds what follows, in order, and sends it as
// copies leave. Checked by hand with a bound of 2 and a wire that is a plain array.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DrainGate } from '../../src/runtime/drain-gate.js';
import type { RaftEnvelope } from '../../src/raft/identity.js';
import { SimLink } from '../../src/raft/sim/network.js';

function wire(inFlightMax: number) {
  const onWire: RaftEnvelope[] = [];
  const link = new SimLink('n1', 'n2', inFlightMax, (envelope, sentOn) => {
    sentOn.entered();
    onWire.push(envelope);
  });
  const counts = { held: 0 };
  const gate = new DrainGate(link, 3, counts);
  const send = (sequence: number) => gate.send({ kind: 'tell', from: 'n1', to: 'n2', body: { sequence } as unknown as RaftEnvelope });
  return { onWire, link, counts, gate, send };
}

const sequences = (envelopes: RaftEnvelope[]) => envelopes.map((envelope) => (envelope as unknown as { sequence: number }).sequence);

test('a busy simulated link: the gate holds, in order, and sends as copies leave the wire', () => {
  const { onWire, link, counts, send } = wire(2);
  for (let sequence = 0; sequence < 5; sequence += 1) assert.ok(send(sequence));
  assert.equal(sequences(onWire), [0, 1], 'busy at two copies on the wire: nothing more is transmitted');
  assert.is(counts.held, 3);
  link.left(); // one copy delivered: one held envelope goes, and the link is busy again
  assert.equal(sequences(onWire), [0, 1, 2]);
  assert.is(counts.held, 2);
  link.left();
  link.left();
  assert.equal(sequences(onWire), [0, 1, 2, 3, 4]);
  assert.is(counts.held, 0);
  assert.is(link.inFlightCount, 2);
});

test('past the held bound a send is refused; a closed link transmits nothing and left() without a copy is an error', () => {
  const { onWire, link, gate, send } = wire(1);
  assert.ok(send(0));
  for (let sequence = 1; sequence <= 3; sequence += 1) assert.ok(send(sequence));
  assert.not.ok(send(4), 'three held already: refused');
  assert.is(gate.close(), 3);
  link.close();
  link.left();
  assert.equal(sequences(onWire), [0]);
  assert.throws(() => link.left(), /left a link that had none/);
});

test.run();
