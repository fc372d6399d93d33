// A hostile socket before the handshake, for the pre-authentication bounds of the node transport: it announces an
// oversize frame and sends part of it, dribbles a frame of the pre-auth bound slowly, sends one such frame whole
// but for its last byte, or stays silent. Used by test/runtime/transport/pre-auth.test.ts (one NodeTransport) and
// test/multihost/pre-auth-flood.test.ts (a `pygmy node`).
import { connect, type Socket } from 'node:net';
import { preAuthFrameBytesMax } from '../../src/runtime/transport/framing.js';

export type StrangerKind = 'oversize' | 'slow' | 'full' | 'silent';

export interface StrangerPace {
  /** What an oversize socket sends after announcing 10 MiB (share one buffer between sockets to stay small). */
  readonly oversizeBody: Buffer;
  /** A slow socket sends `dribbleBytes` every `dribbleEveryMs`. */
  readonly dribbleBytes: number;
  readonly dribbleEveryMs: number;
}

/** One hostile socket from `localAddress`, kept in `open` while it lives; resolves when it is closed (by the node or at the end). */
export function stranger(port: number, localAddress: string, kind: StrangerKind, open: Set<Socket>, pace: StrangerPace): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    open.add(socket);
    let dribble: NodeJS.Timeout | null = null;
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (dribble !== null) clearInterval(dribble);
      open.delete(socket);
      resolve();
    });
    socket.on('connect', () => {
      const header = Buffer.alloc(4);
      switch (kind) {
        case 'oversize':
          header.writeUInt32BE(10 * 1024 * 1024);
          socket.write(header);
          socket.write(pace.oversizeBody);
          return;
        case 'slow':
          header.writeUInt32BE(preAuthFrameBytesMax);
          socket.write(header);
          dribble = setInterval(() => socket.write(Buffer.alloc(pace.dribbleBytes, 0x63)), pace.dribbleEveryMs);
          return;
        case 'full':
          header.writeUInt32BE(preAuthFrameBytesMax);
          socket.write(Buffer.concat([header, Buffer.alloc(preAuthFrameBytesMax - 1, 0x63)]));
          return;
        case 'silent':
          return;
      }
    });
  });
}
