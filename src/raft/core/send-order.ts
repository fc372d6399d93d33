// When a driver may send a Ready's messages before persisting it: the one ordering rule the production replica
// and the simulator share, so the simulator checks the order production uses.
//
// The rule (Raft thesis §10.2.1): a leader may send before its own write, so its fsync and its followers' run in
// parallel. Safe because the core counts the leader's own entries toward commit only once a Ready that carried
// them is advanced (persisted) — and the drivers write synchronously before handling anything else, so no
// acknowledgement is even seen before that write. A leader that crashes in between loses entries only it and
// some followers hold, none of them committed. Everything else is written first: a changed term or vote must be
// durable before any message that depends on it leaves, and a follower persists entries before acknowledging.

import type { HardState, Ready, Role } from '../types.js';

export function sendsBeforePersist(role: Role, ready: Ready, stored: HardState): boolean {
  if (role !== 'leader' || ready.messages.length === 0 || ready.snapshot !== null) return false;
  return ready.hardState === null || (ready.hardState.term === stored.term && ready.hardState.vote === stored.vote);
}
