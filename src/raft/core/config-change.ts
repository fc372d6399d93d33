// Group membership in the log: one change at a time (Raft thesis §4.1), with learners.
//
// Owns: the Membership shape (voters and learners), the changes a leader may propose (add a learner, promote a
// learner, remove a member), their encoding as the data of a `config` entry, and MembershipLog — the
// configuration as of the snapshot plus every configuration entry after it, so that a node uses the latest one in
// its log, committed or not, falls back when that entry is truncated, and knows the configuration at any index it
// still holds (for a snapshot's metadata).
// Promises: a change moves at most one voter, so the majorities of the configurations before and after it always
// overlap; a decoded configuration is checked (names are non-empty strings, none twice, voters and learners
// disjoint, 1..membersMax voters). Needs: nothing; plain data driven by RaftNode.
import type { NodeId } from '../types.js';
import { invariant } from './errors.js';

export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type MembershipChange =
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

/** Voters and learners together, at most. */
export const membersMax = 9;

/** The configuration after `change`, or the reason the change cannot apply to `membership`. */
export function applyChange(membership: Membership, change: MembershipChange): Membership | string {
  const { voters, learners } = membership;
  const node = change.node;
  if (typeof node !== 'string' || node.length === 0) return 'a member is named by a non-empty string';
  switch (change.type) {
    case 'addLearner':
      if (voters.includes(node) || learners.includes(node)) return `${node} is already a member`;
      if (voters.length + learners.length >= membersMax) return `a group holds at most ${membersMax} members`;
      return { voters, learners: [...learners, node] };
    case 'promote':
      if (voters.includes(node)) return `${node} is already a voter`;
      if (!learners.includes(node)) return `${node} is not a learner`;
      return { voters: [...voters, node], learners: learners.filter((each) => each !== node) };
    case 'remove':
      if (learners.includes(node)) return { voters, learners: learners.filter((each) => each !== node) };
      if (!voters.includes(node)) return `${node} is not a member`;
      if (voters.length === 1) return `${node} is the last voter`;
      return { voters: voters.filter((each) => each !== node), learners };
  }
}

export function quorumOf(membership: Membership): number {
  return Math.floor(membership.voters.length / 2) + 1;
}

export function isMember(membership: Membership, node: NodeId): boolean {
  return membership.voters.includes(node) || membership.learners.includes(node);
}

export function encodeMembership(membership: Membership): string {
  return JSON.stringify({ voters: membership.voters, learners: membership.learners });
}

/** The configuration in a `config` entry's data, or null when the data is not a valid configuration. */
export function decodeMembership(data: string): Membership | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { voters, learners } = parsed as { voters?: unknown; learners?: unknown };
  if (!isNameList(voters) || !isNameList(learners)) return null;
  const all = [...voters, ...learners];
  if (voters.length === 0 || all.length > membersMax || new Set(all).size !== all.length) return null;
  return { voters, learners };
}

function isNameList(value: unknown): value is NodeId[] {
  return Array.isArray(value) && value.every((each) => typeof each === 'string' && each.length > 0);
}

interface RecordedChange {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

/**
 * The configuration as of the log's start (the snapshot, or the bootstrap configuration) and every `config` entry
 * after it, in index order.
 */
export class MembershipLog {
  private baseIndex: number;
  private base: Membership;
  /** Index of the `config` entry that set `base` (≤ baseIndex; 0 for the bootstrap configuration). */
  private baseConfigIndex: number;
  private changes: RecordedChange[] = [];

  constructor(baseIndex: number, base: Membership, private readonly describe: () => string, baseConfigIndex = baseIndex) {
    invariant(baseConfigIndex <= baseIndex, () => `${describe()}: configuration index ${baseConfigIndex} beyond the log's start ${baseIndex}`);
    this.baseIndex = baseIndex;
    this.base = base;
    this.baseConfigIndex = baseConfigIndex;
  }

  latest(): Membership {
    return this.changes.length === 0 ? this.base : this.changes[this.changes.length - 1]!.membership;
  }

  /** Index of the entry that set the latest configuration (0 for the bootstrap one). */
  latestIndex(): number {
    return this.changes.length === 0 ? this.baseConfigIndex : this.changes[this.changes.length - 1]!.index;
  }

  /** Index of the entry that set the configuration in force at `index`; index ≥ the log's start. */
  indexAt(index: number): number {
    invariant(index >= this.baseIndex, () => `${this.describe()}: configuration index asked at ${index}, before the log's start ${this.baseIndex}`);
    let found = this.baseConfigIndex;
    for (const change of this.changes) {
      if (change.index > index) break;
      found = change.index;
    }
    return found;
  }

  /** The configuration in force at `index` (the latest entry at or below it); index ≥ the log's start. */
  at(index: number): Membership {
    invariant(index >= this.baseIndex, () => `${this.describe()}: configuration asked at ${index}, before the log's start ${this.baseIndex}`);
    let found = this.base;
    for (const change of this.changes) {
      if (change.index > index) break;
      found = change.membership;
    }
    return found;
  }

  /** Records a `config` entry now in the log at (index, term); later ones were dropped by forget() first. */
  record(index: number, term: number, data: string): void {
    const membership = decodeMembership(data);
    invariant(membership !== null, () => `${this.describe()}: config entry at ${index} holds no valid configuration: ${data.slice(0, 200)}`);
    const last = this.changes[this.changes.length - 1];
    if (last !== undefined && last.index >= index) {
      invariant(last.index === index && last.term === term, () => `${this.describe()}: config entry at ${index} recorded out of order`);
      return;
    }
    this.changes.push({ index, term, membership });
  }

  /** Drops the recorded entries the log no longer holds (truncated, or replaced by another term). */
  forget(termAt: (index: number) => number | undefined): boolean {
    const before = this.changes.length;
    while (this.changes.length > 0) {
      const last = this.changes[this.changes.length - 1]!;
      if (termAt(last.index) === last.term) break;
      this.changes.pop();
    }
    return this.changes.length !== before;
  }

  /** The log was compacted up to `index`: the configuration there becomes the base. */
  compactTo(index: number): void {
    if (index <= this.baseIndex) return;
    this.base = this.at(index);
    this.baseConfigIndex = this.indexAt(index);
    this.baseIndex = index;
    this.changes = this.changes.filter((change) => change.index > index);
  }

  /** The log was replaced by a snapshot carrying `membership`, set by the entry at `configIndex`. */
  restore(index: number, membership: Membership, configIndex = index): void {
    invariant(configIndex <= index, () => `${this.describe()}: snapshot configuration index ${configIndex} beyond its index ${index}`);
    this.base = membership;
    this.baseIndex = index;
    this.baseConfigIndex = configIndex;
    this.changes = [];
  }
}
