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
  | PingMessage
  | { readonly type: 'bye'; readonly reason: string };

/**
 * A heartbeat. It may carry the round-trip probe (all three fields or none): `sentAt`, the sender's clock when it
 * sent this ping; `echo`, the `sentAt` of the last ping it received, and `heldMs`, how long it held that one before
 * this ping. The receiver's round trip is its clock now − echo − heldMs: each side compares only its own clock with
 * itself, so the two clocks need not agree. A ping without them (an older build of this version) is a heartbeat only.
 */
export interface PingMessage {
  readonly type: 'ping';
  readonly sentAt?: number;
  readonly echo?: number;
  readonly heldMs?: number;
}

/** The probe's fields are milliseconds on one side's clock: finite and non-negative, or the probe is ignored. */
const isProbeMs = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

function parsePing(message: Record<string, unknown>): PingMessage {
  if (!isProbeMs(message.sentAt)) return { type: 'ping' };
  if (!isProbeMs(message.echo) || !isProbeMs(message.heldMs)) return { type: 'ping', sentAt: message.sentAt };
  return { type: 'ping', sentAt: message.sentAt, echo: message.echo, heldMs: message.heldMs };
}

/** A sample past this is not a round trip but a clock that jumped or a confused peer; it is not counted. */
export const roundTripMsMax = 60_000;

/** The round trip a ping's echo gives on the receiver's clock at `nowMs`; null when it carries none or a bad one. */
export function roundTripSampleMs(ping: PingMessage, nowMs: number): number | null {
  if (ping.echo === undefined || ping.heldMs === undefined || ping.echo > nowMs) return null;
  const sampleMs = nowMs - ping.echo - ping.heldMs;
  return sampleMs >= 0 && sampleMs <= roundTripMsMax ? sampleMs : null;
}

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
      return parsePing(message);
    case 'bye':
      return typeof message.reason === 'string' ? { type: 'bye', reason: message.reason.slice(0, 200) } : null;
    default:
      return null;
  }
}
