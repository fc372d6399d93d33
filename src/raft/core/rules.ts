// The safety rules of Raft that the core consults by name: each is a decision the algorithm answers "no" to, kept
// in one object so that the node's rule and the invariant that checks it read the same answer.
//
// Owns: the RaftRules shape and standardRules, the answers of the Raft paper and thesis. Promises: a node built
// without `rules` follows standardRules, and every rule below is consulted both where the node decides and in the
// invariants asserted after every input (an invariant that a rule makes untrue is relaxed only with that rule).
// Needs: nothing.
import { RaftConfigError } from './errors.js';

export interface RaftRules {
  /** May a vote be granted again in the same term, to another candidate? §5.2 says no: one vote per term. */
  readonly mayVoteAgainInTerm: boolean;
  /**
   * May a leader commit an entry of an earlier term by counting the replicas that hold it? §5.4.2 (Figure 8) says
   * no: only entries of the leader's own term are committed by counting; earlier ones commit beneath them.
   */
  readonly mayCommitEarlierTermByCounting: boolean;
  /**
   * May a follower answer a read at its own commit index, without asking the leader (ReadIndex)? No: its commit
   * index may lag behind writes already acknowledged, so the read would not be linearizable (thesis §6.4).
   */
  readonly mayFollowerReadWithoutReadIndex: boolean;
  /**
   * May a leader propose a membership change while an earlier one is still uncommitted? Thesis §4.1 says no: two
   * single-server changes in flight can give two disjoint majorities.
   */
  readonly mayChangeMembershipWhileChangeUncommitted: boolean;
}

/** The rules as Raft states them; what every node uses unless its configuration names others. */
export const standardRules: RaftRules = Object.freeze({
  mayVoteAgainInTerm: false,
  mayCommitEarlierTermByCounting: false,
  mayFollowerReadWithoutReadIndex: false,
  mayChangeMembershipWhileChangeUncommitted: false,
});

/** Throws RaftConfigError unless `rules` answers every rule of standardRules with a boolean and names no other. */
export function validateRules(rules: RaftRules): void {
  const names = Object.keys(standardRules);
  for (const name of names) {
    const answer = (rules as unknown as Record<string, unknown>)[name];
    if (typeof answer !== 'boolean') throw new RaftConfigError(`rules.${name} must be a boolean, got ${String(answer)}`);
  }
  const unknown = Object.keys(rules).filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new RaftConfigError(`rules name unknown rules: ${unknown.join(',')}`);
}
