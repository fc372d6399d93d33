// The pure admission rules of the TCP transport (src/runtime/transport/admission.ts): handshake slots per address
// and in total with eviction, the fair share of a peer's address when strangers fill every slot, the
// pre-authentication byte ledger, the allow list, and the limits checked at construction.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AddressAllowList, checkAdmissionLimits, HandshakeSlots, PreAuthLedger } from '../../../src/runtime/transport/admission.js';

const test = suite('transport admission');

test('a full address gives its oldest slot to a newcomer from the same address', () => {
  const slots = new HandshakeSlots<string>({ handshakesPerAddressMax: 2, handshakesMax: 10, preAuthBytesMax: 1 });
  assert.equal(slots.admit('s1', '10.0.0.9'), { kind: 'admitted', evicted: [] });
  assert.equal(slots.admit('s2', '10.0.0.9'), { kind: 'admitted', evicted: [] });
  assert.equal(slots.admit('peer', '10.0.0.9'), { kind: 'admitted', evicted: ['s1'] });
  assert.not.ok(slots.holds('s1'));
  assert.ok(slots.holds('s2') && slots.holds('peer'));
  assert.is(slots.size, 2);
});

test('strangers from other addresses that take every slot cannot keep a peer out', () => {
  // 4 slots in all, 2 per address; strangers at .2 and .3 take all 4; the peer at .1 takes one from the most
  // crowded address. Its one slot is never taken by another address: a stranger from a fourth address takes
  // from .3 (two slots); after that, with one slot per address, newcomers only replace their own address's.
  const slots = new HandshakeSlots<string>({ handshakesPerAddressMax: 2, handshakesMax: 4, preAuthBytesMax: 1 });
  for (const id of ['a1', 'a2']) slots.admit(id, '10.0.0.2');
  for (const id of ['b1', 'b2']) slots.admit(id, '10.0.0.3');
  assert.equal(slots.admit('peer', '10.0.0.1'), { kind: 'admitted', evicted: ['a1'] });
  assert.equal(slots.admit('c1', '10.0.0.4'), { kind: 'admitted', evicted: ['b1'] });
  // Every address now holds one (.2, .3, .4) or one (.1): newcomers replace their own address's oldest.
  assert.equal(slots.admit('c2', '10.0.0.4'), { kind: 'admitted', evicted: ['c1'] });
  assert.equal(slots.admit('a3', '10.0.0.2'), { kind: 'admitted', evicted: ['a2'] });
  assert.ok(slots.holds('peer'), 'the peer keeps its slot');
  assert.is(slots.size, 4);
});

test('with every address at its fair share, a newcomer is refused rather than evicting', () => {
  const slots = new HandshakeSlots<string>({ handshakesPerAddressMax: 2, handshakesMax: 2, preAuthBytesMax: 1 });
  slots.admit('a', '10.0.0.2');
  slots.admit('b', '10.0.0.3');
  assert.is(slots.admit('c', '10.0.0.4').kind, 'refused');
  slots.release('a');
  assert.is(slots.admit('c', '10.0.0.4').kind, 'admitted');
});

test('IPv4-mapped IPv6 counts as the IPv4 address, for slots and for the allow list', () => {
  const slots = new HandshakeSlots<string>({ handshakesPerAddressMax: 1, handshakesMax: 4, preAuthBytesMax: 1 });
  slots.admit('x', '10.0.0.2');
  assert.equal(slots.admit('y', '::ffff:10.0.0.2'), { kind: 'admitted', evicted: ['x'] });
  const allow = new AddressAllowList(['10.0.0.2', 'FD00::2']);
  assert.ok(allow.allows('::ffff:10.0.0.2'));
  assert.ok(allow.allows('fd00::2'));
  assert.not.ok(allow.allows('10.0.0.3'));
  assert.not.ok(allow.allows(undefined));
});

test('the ledger refuses a hold past the bound and remembers the peak', () => {
  const ledger = new PreAuthLedger<string>(10_000);
  assert.ok(ledger.hold('a', 4_000));
  assert.ok(ledger.hold('b', 4_000));
  assert.not.ok(ledger.hold('c', 4_000), 'over the bound');
  assert.is(ledger.heldBytes, 8_000);
  assert.ok(ledger.hold('a', 6_000), 'a replaces its own hold');
  ledger.release('b');
  ledger.release('a');
  assert.is(ledger.heldBytes, 0);
  assert.is(ledger.peakBytes, 10_000);
});

test('limits whose slots could hold more than the byte bound are refused at construction', () => {
  assert.throws(() => checkAdmissionLimits({ handshakesPerAddressMax: 4, handshakesMax: 300, preAuthBytesMax: 1024 * 1024 }, 4100), /exceeds preAuthBytesMax/);
  assert.throws(() => checkAdmissionLimits({ handshakesPerAddressMax: 8, handshakesMax: 4, preAuthBytesMax: 1024 * 1024 }, 4100), /must not exceed/);
  checkAdmissionLimits({ handshakesPerAddressMax: 4, handshakesMax: 64, preAuthBytesMax: 1024 * 1024 }, 4100);
});

test.run();
