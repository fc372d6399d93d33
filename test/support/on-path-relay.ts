// An attacker on the path between two nodes, as a TCP relay: it forwards every byte, frame by frame,
// and, when armed, attacks one data frame that a dialer sends after its handshake (the first two frames each way,
// hello and proof, always pass untouched, so the handshake is genuine). Attacks: inject a forged frame before it,
// replay the frame before it, swap it with the next, flip one bit of its body, or drop it. Frames from the
// accepting side pass untouched. Used by test/runtime/transport/on-path.test.ts and test/multihost/on-path.test.ts.
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { encodeBatch } from '../../src/runtime/transport/codec.js';
import { connectionLimitsDefault } from '../../src/runtime/transport/connection.js';
import { encodeFrameBytes, FrameReader, frameHeaderBytes, payloadKindData } from '../../src/runtime/transport/framing.js';
import type { Envelope } from '../../src/runtime/wire.js';

export type Attack = 'inject' | 'replay' | 'reorder' | 'flip' | 'drop';

const frameBytesMax = connectionLimitsDefault.frameBytesMax;

export interface Relay {
  readonly port: number;
  /**
   * Queues an attack on the `frameIndex`-th data frame (from 0) of a dialer connection: the next connection to
   * send that frame takes the first queued attack (one attack per connection).
   */
  arm(attack: Attack, frameIndex: number, forged?: Envelope): void;
  /** Attacks carried out so far, and how many attacked connections the far side then closed. */
  readonly stats: { attacks: number; closedAfterAttack: number };
  close(): Promise<void>;
}

interface Armed {
  readonly attack: Attack;
  readonly frameIndex: number;
  readonly forged: Envelope;
}

/** Listens on `listenHost` (loopback by default) and relays every connection to `target`. */
export async function startRelay(target: { host: string; port: number }, listenHost = '127.0.0.1'): Promise<Relay> {
  const sockets = new Set<Socket>();
  const stats = { attacks: 0, closedAfterAttack: 0 };
  const armed: Armed[] = [];
  const server: Server = createServer((inbound) => {
    const outbound = connect(target);
    let attacked = false;
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    outbound.on('close', () => {
      if (attacked) stats.closedAfterAttack += 1;
    });
    outbound.on('data', (chunk) => inbound.write(chunk));
    const reader = new FrameReader(frameBytesMax);
    let frameCount = 0;
    let previous: Buffer | null = null;
    let held: Buffer | null = null;
    inbound.on('data', (chunk: Buffer) => {
      const result = reader.push(chunk);
      if (!result.ok) {
        inbound.destroy();
        return;
      }
      for (const frame of result.frames) {
        const bytes = encodeFrameBytes(frame.kind, frame.body, frameBytesMax);
        const dataIndex = frameCount - 2;
        frameCount += 1;
        const plan = armed[0];
        if (plan !== undefined && !attacked && dataIndex === plan.frameIndex) {
          armed.shift();
          attacked = true;
          stats.attacks += 1;
          held = attack(plan, bytes, previous, outbound);
        } else {
          outbound.write(bytes);
          if (held !== null) {
            outbound.write(held); // a swapped pair: the later frame went first
            held = null;
          }
        }
        previous = bytes;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  return {
    port: (server.address() as { port: number }).port,
    arm: (attack, frameIndex, forged = { kind: 'tell', from: 'intruder', to: 'anyone', body: { forged: true } }) => {
      armed.push({ attack, frameIndex, forged });
    },
    stats,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Carries out one attack on `bytes`; returns a frame to send after the next one (reorder), else null. */
function attack(plan: Armed, bytes: Buffer, previous: Buffer | null, outbound: Socket): Buffer | null {
  switch (plan.attack) {
    case 'inject':
      // A well-formed data frame with a tag of the right length that the attacker could not compute.
      outbound.write(encodeFrameBytes(payloadKindData, Buffer.concat([encodeBatch([plan.forged]), randomBytes(16)]), frameBytesMax));
      outbound.write(bytes);
      return null;
    case 'replay':
      outbound.write(previous ?? bytes);
      outbound.write(bytes);
      return null;
    case 'reorder':
      return bytes;
    case 'flip': {
      const flipped = Buffer.from(bytes);
      flipped[frameHeaderBytes + 1 + Math.min(5, flipped.length - frameHeaderBytes - 2)]! ^= 0x01;
      outbound.write(flipped);
      return null;
    }
    case 'drop':
      return null;
  }
}
