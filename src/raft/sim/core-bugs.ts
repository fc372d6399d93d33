// The deliberate bugs the simulator can plant in the Raft core, to prove its checkers catch them: each bug is the
// one rule of RaftRules (core/rules.ts) it breaks, planted by building the nodes with standardRules but for it.
//
// Owns: the names of the core's bugs (as `pygmy sim --bug NAME` and scripts' `bugs=` spell them) and the rule each
// one breaks. Promises: rulesWith({}) is standardRules itself, so a run without bugs runs the production rules.
// Needs: the core's rules.
import { standardRules, type RaftRules } from '../core/rules.js';

/** For each bug, the rule it breaks. */
const brokenRules = {
  voteTwice: 'mayVoteAgainInTerm',
  commitPreviousTermByCounting: 'mayCommitEarlierTermByCounting',
  followerReadWithoutReadIndex: 'mayFollowerReadWithoutReadIndex',
  concurrentMembershipChanges: 'mayChangeMembershipWhileChangeUncommitted',
} as const satisfies Record<string, keyof RaftRules>;

export type CoreBug = keyof typeof brokenRules;

/** The core's bugs a run plants: voteTwice grants votes twice a term, and so on (see brokenRules). */
export type CoreBugs = { readonly [bug in CoreBug]?: boolean };

export const coreBugNames: readonly CoreBug[] = Object.keys(brokenRules) as CoreBug[];

/** standardRules with the rule of every planted bug broken; standardRules itself when none is planted. */
export function rulesWith(bugs: CoreBugs): RaftRules {
  const planted = coreBugNames.filter((bug) => bugs[bug] === true);
  if (planted.length === 0) return standardRules;
  const rules: Record<keyof RaftRules, boolean> = { ...standardRules };
  for (const bug of planted) rules[brokenRules[bug]] = true;
  return rules;
}
