// The gateway's connections: the listen backlog, and the connection limit answered in HTTP rather than by a reset.
//
// Owns: counting open connections, marking those past `connectionsMax` (their requests get 503, Retry-After and
// Connection: close — node:http's own maxConnections would drop them with no answer, which a client sees as a
// reset), and the backlog the listen socket asks for, bounded by the kernel's net.core.somaxconn.
// Promises: `open` is exact (every counted socket is uncounted once, on close); a connection is marked at most
// once, when it arrives, and only while more than connectionsMax are open; marked connections are bounded by
// connectionsRefusedMax (past it, node:http drops new ones at accept).
// Needs: nothing but the sockets node:http hands over.

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/** net.core.somaxconn, the kernel's cap on any listen backlog; null where it cannot be read (not Linux). */
export function readSomaxconn(path = '/proc/sys/net/core/somaxconn'): number | null {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

export interface ListenBacklog {
  /** The backlog the gateway asked for (limits.listenBacklog). */
  readonly asked: number;
  /** What the kernel grants: the smaller of asked and somaxconn. */
  readonly effective: number;
  readonly somaxconn: number | null;
}

/** The kernel silently caps a listen backlog at somaxconn; say so, so that `pygmy start` can report it. */
export function listenBacklogFor(asked: number, somaxconn: number | null): ListenBacklog {
  return { asked, effective: somaxconn === null ? asked : Math.min(asked, somaxconn), somaxconn };
}

export class ConnectionLimit {
  /** Connections open now, marked ones included. */
  open = 0;
  /** Connections open now that arrived past connectionsMax. */
  refusing = 0;
  /** Connections ever marked as over the limit. */
  refusedCount = 0;
  private readonly overLimit = new WeakSet<Socket>();

  constructor(readonly connectionsMax: number) {}

  /** Counts a new connection; marks it when it is past the limit. */
  add(socket: Socket): void {
    this.open += 1;
    const over = this.open > this.connectionsMax;
    if (over) {
      this.overLimit.add(socket);
      this.refusing += 1;
      this.refusedCount += 1;
    }
    socket.once('close', () => {
      this.open -= 1;
      if (over) this.refusing -= 1;
    });
  }

  /** Whether requests on this connection are to be refused; free when none is (a number compared). */
  isOverLimit(socket: Socket): boolean {
    return this.refusing > 0 && this.overLimit.has(socket);
  }
}

/** The operator's warning when the kernel grants less backlog than asked; null when it grants it all. */
export function backlogShortfall(backlog: ListenBacklog): string | null {
  if (backlog.somaxconn === null || backlog.somaxconn >= backlog.asked) return null;
  return `gateway: net.core.somaxconn is ${backlog.somaxconn}, lower than the listen backlog asked for (${backlog.asked}); a burst of more new connections waits in SYN retries (raise it with sysctl -w net.core.somaxconn=${backlog.asked})`;
}
