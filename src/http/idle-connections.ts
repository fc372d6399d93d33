// Closes connections on which nothing has moved for a while.
//
// Owns: the set of a server's open connections and, for each, what it had read and sent when a sweep last saw it
// move. One sweep runs every `sweepMs`.
// Promises:
// - a connection on which no byte was read and no write completed for `idleMs` is destroyed within
//   idleMs + sweepMs. That covers a client that stopped reading a response, a peer that vanished with a response
//   still queued, and a connection that never sent a byte (node:http's headers timeout does not see those);
// - a connection that keeps moving stays open, however slow, as long as each write completes within idleMs;
// - the set holds open connections only, so it is bounded by the server's connection cap.
// Needs: net.Socket's public counters (`bytesRead`, `bytesWritten`, `writableLength`).
//
// Why not node:http's own idle timer (`server.timeout`): node:http re-arms that timer when each request starts and
// each response ends, and refreshes it on every read and write; under cached lookups that was ~0.4 µs of the
// gateway thread per request, about 3% of it. A sweep a second costs nothing per request.
import type { Socket } from 'node:net';

/** What a connection had read and sent the last time it was seen to move, and when that was. */
interface Seen {
  read: number;
  sent: number;
  sinceMs: number;
}

/**
 * Bytes whose write has completed: node counts a write in `bytesWritten` from the moment it is queued, and in
 * `writableLength` until it completes. A destroyed socket reports no `bytesWritten`.
 */
function sentBytes(socket: Socket): number {
  return (socket.bytesWritten ?? 0) - socket.writableLength;
}

export class IdleConnections {
  private readonly seen = new Map<Socket, Seen>();
  private readonly timer: NodeJS.Timeout | null;
  private closedTotal = 0;

  /** `sweepMs` 0 means the owner sweeps by hand (tests); the timer never keeps a process alive. */
  constructor(
    private readonly idleMs: number,
    sweepMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(idleMs) || idleMs <= 0) throw new Error(`idle connections: idleMs must be a positive integer, got ${idleMs}`);
    if (!Number.isInteger(sweepMs) || sweepMs < 0) throw new Error(`idle connections: sweepMs must be an integer ≥ 0, got ${sweepMs}`);
    this.timer = sweepMs === 0 ? null : setInterval(() => this.sweep(), sweepMs);
    this.timer?.unref();
  }

  /** Connections watched now. */
  get size(): number {
    return this.seen.size;
  }

  /** Connections destroyed for idleness since this watch began. */
  get closedCount(): number {
    return this.closedTotal;
  }

  /** Watches a new connection until it closes. */
  add(socket: Socket): void {
    this.seen.set(socket, { read: socket.bytesRead, sent: sentBytes(socket), sinceMs: this.now() });
    socket.once('close', () => this.seen.delete(socket));
  }

  /** Destroys every connection that has not moved for idleMs; returns how many. */
  sweep(): number {
    const nowMs = this.now();
    let closed = 0;
    for (const [socket, seen] of this.seen) {
      const read = socket.bytesRead;
      const sent = sentBytes(socket);
      if (read !== seen.read || sent !== seen.sent) {
        seen.read = read;
        seen.sent = sent;
        seen.sinceMs = nowMs;
      } else if (nowMs - seen.sinceMs >= this.idleMs) {
        // Deleted here as well as on 'close', which node emits on a later turn.
        this.seen.delete(socket);
        socket.destroy();
        closed += 1;
      }
    }
    this.closedTotal += closed;
    return closed;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }
}
