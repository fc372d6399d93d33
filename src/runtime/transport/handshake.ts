// The authenticated handshake between two nodes: pure functions, no I/O.
//
// Both sides send `hello { version, node, nonce }` at once (a fresh 32-byte random nonce per connection), then
// `proof { mac }` where mac = HMAC-SHA256(secret, "pygmy-handshake/3|prover|verifier|verifierNonce|proverNonce").
// Why it holds: the secret never crosses the wire; a proof covers the verifier's fresh nonce, so a recorded
// handshake replayed later fails; it names prover and verifier in order, so a proof cannot be reflected back to
// its author; macs are compared in constant time. Every frame after a side's proof is tagged under a session key
// derived from the secret and both nonces (session.ts): a proof alone opens nothing to whoever relays it.
// Version 2 added the session; version 3 carries an ask's time remaining instead of its deadline (codec.ts). A node
// of another version is refused at its hello. Needs: node:crypto.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const protocolVersion = 3;
export const nonceBytes = 32;
const nodeNameLengthMax = 64;

export type ControlMessage =
  | { readonly type: 'hello'; readonly version: number; readonly node: string; readonly nonce: string }
  | { readonly type: 'proof'; readonly mac: string }
  | { readonly type: 'ping' }
  | { readonly type: 'bye'; readonly reason: string };

export function freshNonce(): string {
  return randomBytes(nonceBytes).toString('hex');
}

export function proofMac(secret: Buffer, prover: string, verifier: string, verifierNonce: string, proverNonce: string): string {
  return createHmac('sha256', secret).update(`pygmy-handshake/${protocolVersion}|${prover}|${verifier}|${verifierNonce}|${proverNonce}`).digest('hex');
}

export function proofMatches(expectedHex: string, receivedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  const received = Buffer.from(receivedHex, 'hex');
  // Lengths are public (always 32 bytes for a well-formed mac); only equal-length buffers are compared.
  return received.length === expected.length && timingSafeEqual(expected, received);
}

const isHex = (value: unknown, bytes: number): value is string => typeof value === 'string' && value.length === bytes * 2 && /^[0-9a-f]+$/.test(value);

/** Validates a control message from the wire; null when it is not one. */
export function parseControl(text: string): ControlMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'hello':
      if (!Number.isInteger(message.version) || typeof message.node !== 'string' || message.node.length === 0 || message.node.length > nodeNameLengthMax) return null;
      if (!isHex(message.nonce, nonceBytes)) return null;
      return { type: 'hello', version: message.version as number, node: message.node, nonce: message.nonce };
    case 'proof':
      return isHex(message.mac, 32) ? { type: 'proof', mac: message.mac } : null;
    case 'ping':
      return { type: 'ping' };
    case 'bye':
      return typeof message.reason === 'string' ? { type: 'bye', reason: message.reason.slice(0, 200) } : null;
    default:
      return null;
  }
}
