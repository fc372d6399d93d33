// Configuration of one Raft node, validated once at construction.
//
// Every limit the core enforces is here, with its unit in the name or the comment; a node built with a bad
// configuration throws RaftConfigError before it does anything.
import type { NodeId, Random } from '../types.js';
import { RaftConfigError } from './errors.js';
import { validateRules, type RaftRules } from './rules.js';

export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The voters of the group's bootstrap configuration (1..7), used until the log or a snapshot holds a later one
   * (config-change.ts). A node added later is not among them: it waits, a non-voter, for the leader to reach it.
   */
  readonly peers: readonly NodeId[];
  /** The learners of the bootstrap configuration (non-voters that replicate). Default none. */
  readonly learners?: readonly NodeId[];
  /** A learner is promoted only when its log is within this many entries of the leader's. Default 64. */
  readonly learnerLagEntriesMax?: number;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [electionTicks, 2×electionTicks). */
  readonly electionTicks: number;
  /** Ticks between heartbeats of a leader; below electionTicks. */
  readonly heartbeatTicks: number;
  readonly random: Random;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerAppend: number;
  /** Appends carrying entries that may be in flight to one follower while it replicates (pipelining). */
  readonly maxInflightAppends: number;
  /** Proposals refused with tooManyUncommitted past this many entries beyond the commit index. */
  readonly maxUncommittedEntries: number;
  /** Reads waiting for leadership confirmation, at the leader and forwarded by a follower. Default 1024. */
  readonly maxPendingReads?: number;
  /** Index the application has already applied (its state survived the restart); default the snapshot index. */
  readonly applied?: number;
  /**
   * False for a node that lost what it promised (its disk was wiped or replaced while its group lived on): it
   * follows and replicates, but never campaigns, never grants a vote or pre-vote, and its peers do not count it
   * towards any quorum (they learn it through markNonVoter). Default true.
   */
  readonly voter?: boolean;
  /** The safety rules this node follows (rules.ts). Default standardRules, the rules of the Raft paper. */
  readonly rules?: RaftRules;
}

function requireInteger(value: number, name: string, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RaftConfigError(`${name} must be an integer ≥ ${minimum}, got ${value}`);
  }
}

export function validateConfig(config: RaftConfig): void {
  if (typeof config.id !== 'string' || config.id.length === 0) throw new RaftConfigError('id must be a non-empty string');
  if (config.peers.length < 1 || config.peers.length > 7) {
    throw new RaftConfigError(`peers must hold 1 to 7 voters, got ${config.peers.length}`);
  }
  const members = [...config.peers, ...(config.learners ?? [])];
  if (new Set(members).size !== members.length) throw new RaftConfigError(`peers and learners repeat an id: ${members.join(',')}`);
  requireInteger(config.learnerLagEntriesMax ?? 64, 'learnerLagEntriesMax', 0);
  requireInteger(config.heartbeatTicks, 'heartbeatTicks', 1);
  requireInteger(config.electionTicks, 'electionTicks', 2);
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new RaftConfigError(`electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks})`);
  }
  requireInteger(config.maxEntriesPerAppend, 'maxEntriesPerAppend', 1);
  requireInteger(config.maxInflightAppends, 'maxInflightAppends', 1);
  requireInteger(config.maxUncommittedEntries, 'maxUncommittedEntries', 1);
  requireInteger(config.maxPendingReads ?? 1024, 'maxPendingReads', 1);
  if (config.applied !== undefined) requireInteger(config.applied, 'applied', 0);
  if (config.rules !== undefined) validateRules(config.rules);
  if (typeof config.random !== 'function') throw new RaftConfigError('random must be a function returning [0, 1)');
}
