// Validation of Raft messages arriving from outside the replica (another worker or another host).
//
// The core trusts its inputs and asserts on them; a malformed message from the wire must be refused here, at the
// boundary, so that it is counted and dropped instead of tripping an assertion that would crash the replica.
import type { Entry, Message, Snapshot } from './types.js';

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isName = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 128;
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';

export function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return isCount(entry.index) && entry.index > 0 && isCount(entry.term) && (entry.type === 'normal' || entry.type === 'noop' || entry.type === 'config') && typeof entry.data === 'string';
}

function isSnapshot(value: unknown): value is Snapshot {
  if (typeof value !== 'object' || value === null) return false;
  const snapshot = value as { meta?: unknown; data?: unknown };
  if (typeof snapshot.data !== 'string' || typeof snapshot.meta !== 'object' || snapshot.meta === null) return false;
  const meta = snapshot.meta as Record<string, unknown>;
  return isCount(meta.index) && isCount(meta.term) && Array.isArray(meta.peers) && meta.peers.every(isName)
    && (meta.learners === undefined || (Array.isArray(meta.learners) && meta.learners.every(isName)))
    && (meta.configIndex === undefined || (isCount(meta.configIndex) && meta.configIndex <= meta.index));
}

export function isRaftMessage(value: unknown): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  if (!isName(message.from) || !isName(message.to) || !isCount(message.term)) return false;
  switch (message.type) {
    case 'preVote':
      return isCount(message.lastLogIndex) && isCount(message.lastLogTerm);
    case 'vote':
      return isCount(message.lastLogIndex) && isCount(message.lastLogTerm) && isBoolean(message.transfer);
    case 'preVoteResponse':
    case 'voteResponse':
      return isBoolean(message.reject);
    case 'append':
      return (
        isCount(message.prevIndex) && isCount(message.prevTerm) && isCount(message.commit) &&
        Array.isArray(message.entries) && message.entries.every(isEntry)
      );
    case 'appendResponse':
      return isBoolean(message.reject) && isCount(message.index) && isCount(message.hintIndex) && isCount(message.hintTerm);
    case 'heartbeat':
      return isCount(message.commit) && (message.context === null || typeof message.context === 'string');
    case 'heartbeatResponse':
      return message.context === null || typeof message.context === 'string';
    case 'installSnapshot':
      return isSnapshot(message.snapshot);
    case 'readIndex':
      return typeof message.context === 'string';
    case 'readIndexResponse':
      return typeof message.context === 'string' && isCount(message.index) && isBoolean(message.reject);
    case 'timeoutNow':
      return true;
    default:
      return false;
  }
}
