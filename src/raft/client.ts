// A client of one Raft group: finds the leader, follows redirects, spreads reads, and fails over.
// Reads rotate over the members by event-loop turn: the reads started in one turn go to the same member (so the
// runtime carries them in one frame and the member serves them with one ReadIndex round), the next turn's to
// the next member.
//
// Owns: the leader hint, the health of each member as this caller has seen it, and the members it tries. Promises:
// a call either returns an answer from a member or throws GroupUnavailableError when the deadline passes; it never
// waits on a member already known to be down (one that refused with "unavailable" is skipped until `downForMs`
// passes), and every loop is bounded by the deadline and by `attemptsMax`.
// Members follow the group itself, as etcd's clients sync their endpoints from the member list: every ask names
// the index of the configuration this client holds (`knownConfigIndex`; 0, the bootstrap one, for the members it
// was given), a member whose own configuration is newer adds it to its answer (`configuration`, types.ts), and the
// client then tries that configuration's voters and learners. Only a higher index replaces what it holds, so an
// old member cannot undo a change, and the members it was given stay until a newer configuration is seen.
// `setMembers` is the fast path for whoever made a change (or was told of one).
// Types: a client is generic in the group's state machine (state-machine.ts) — propose takes its Command and
// answers its Result, read takes its Query and answers that kind's Answer — and in the group's own leader-only
// requests (`Calls`: request and answer by the request's type). The members run the same state machine, so
// their answers are taken as typed (accepted(), the one place that is asserted rather than checked).
// Refusals are typed (GroupRefusal): retried elsewhere, except a refusal of the request itself (badQuery), which
// no member would accept and which throws GroupRefusedError at once.
// Needs: an `ask` function (the runtime's, from an actor or the main thread) and a clock.

import { encodeCommand, type AnswerTo, type AnyStateMachine, type CommandOf, type QueryOf, type ResultOf } from './state-machine.js';
import { membersMax } from './core/config-change.js';
import type { GroupConfiguration, NodeId } from './types.js';
import type { ReplicaRefusal } from './replica.js';

export class GroupUnavailableError extends Error {
  readonly code = 'GROUP_UNAVAILABLE';
  constructor(readonly group: string, readonly lastProblem: string) {
    super(`no member of ${group} answered in time (last problem: ${lastProblem})`);
    this.name = 'GroupUnavailableError';
  }
}

/** A member refused the request itself (a query its state machine does not take): no other member would take it. */
export class GroupRefusedError extends Error {
  readonly code = 'GROUP_REFUSED';
  constructor(readonly group: string, readonly refusal: GroupRefusal) {
    super(`${group} refused the request: ${describeRefusal(refusal)}`);
    this.name = 'GroupRefusedError';
  }
}

/**
 * Why a member did not answer: the replica's own refusals, a query it does not take, or a refusal of the
 * application's leader-only request (its `error` names it; `detail` says more).
 */
export type GroupRefusal =
  | { readonly ok: false; readonly error: ReplicaRefusal; readonly leader: NodeId | null }
  | { readonly ok: false; readonly error: 'badQuery'; readonly detail: string; readonly leader: NodeId | null }
  | { readonly ok: false; readonly error: string; readonly detail?: string; readonly leader: NodeId | null };

/** A group's leader-only requests: for each request type, the request and its answer's result. */
export type LeaderCalls = {
  readonly [type: string]: { readonly request: { readonly type: string; readonly [field: string]: unknown }; readonly answer: unknown };
};

export interface GroupClientOptions {
  readonly group: string;
  readonly members: readonly NodeId[];
  readonly ask: (target: NodeId, message: unknown, timeoutMs: number) => Promise<unknown>;
  /** True for errors meaning the member is down (stopped, restarting, isolated): skip it for a while. */
  readonly isUnavailable: (error: unknown) => boolean;
  readonly now?: () => number;
  /** How long a member that refused as unavailable is skipped. */
  readonly downForMs?: number;
  /** Upper bound of one attempt; a member slower than this is tried after the others. */
  readonly attemptTimeoutMs?: number;
  readonly attemptsMax?: number;
  readonly onFailover?: (from: NodeId, to: NodeId | null, reason: string) => void;
  /** The members tried changed (a newer configuration was seen, or setMembers): these from now on. */
  readonly onMembersChanged?: (members: readonly NodeId[], configIndex: number) => void;
}

/** The longest member name a configuration from the wire may carry (as long as a membership change takes). */
const memberNameLengthMax = 64;

/** A list of member names from the wire: at most the core's membersMax, each a short non-empty string. */
export function isMemberList(value: unknown): value is readonly NodeId[] {
  return Array.isArray(value) && value.length <= membersMax
    && value.every((name) => typeof name === 'string' && name.length > 0 && name.length <= memberNameLengthMax);
}

/** A configuration from the wire, checked: an index, at least one voter, at most membersMax members; else null. */
export function parseConfiguration(value: unknown): GroupConfiguration | null {
  if (typeof value !== 'object' || value === null) return null;
  const { index, voters, learners } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(index) || (index as number) < 0) return null;
  if (!isMemberList(voters) || !isMemberList(learners) || voters.length === 0 || voters.length + learners.length > membersMax) return null;
  return { index: index as number, voters, learners };
}

export interface GroupAnswer<Result = unknown> {
  readonly result: Result;
  readonly index: number;
  readonly servedBy: NodeId;
}

interface Accepted {
  readonly ok: true;
  readonly index: number;
  readonly result: unknown;
}

type Answered = { readonly kind: 'accepted'; readonly answer: Accepted } | { readonly kind: 'refused'; readonly refusal: GroupRefusal };

/** A member's answer from the wire, checked for the envelope every answer has: accepted at an index, or refused. */
function classify(value: unknown): Answered | null {
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Record<string, unknown>;
  const leader = typeof record.leader === 'string' ? record.leader : null;
  if (record.ok === false && typeof record.error === 'string') {
    const detail = typeof record.detail === 'string' ? { detail: record.detail } : {};
    return { kind: 'refused', refusal: { ok: false, error: record.error, leader, ...detail } };
  }
  if (record.ok === true && typeof record.index === 'number' && Number.isSafeInteger(record.index)) return { kind: 'accepted', answer: { ok: true, index: record.index, result: record.result } };
  return null;
}

function describeRefusal(refusal: GroupRefusal): string {
  return 'detail' in refusal && refusal.detail !== undefined ? `${refusal.error} (${refusal.detail})` : refusal.error;
}

/** A refusal no other member would answer differently: the request itself is wrong. */
function refusesRequest(refusal: GroupRefusal): boolean {
  return refusal.error === 'badQuery';
}

/** Refusals after which the next attempt waits a little: no leader to follow, or one that cannot take work yet. */
const waitAfter = new Set<string>(['busy', 'transferring', 'leaderUnknown']);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/**
 * The longest wait between rounds while no member can take the call (an election under way): short beside an
 * election (200–400 ms), so the first round after a new leader is elected comes within this much of it.
 */
const retryBackoffMsMax = 25;

export class GroupClient<Machine extends AnyStateMachine = AnyStateMachine, Calls extends LeaderCalls = LeaderCalls> {
  private readonly options: GroupClientOptions;
  private readonly now: () => number;
  private readonly downUntilMs = new Map<NodeId, number>();
  private leaderHint: NodeId | null = null;
  private cursor = 0;
  /** The members tried, in order; replaced by a newer configuration (an answer's, or setMembers). */
  private members: readonly NodeId[];
  /** The index of the configuration `members` came from; 0 for the members given at construction. */
  private configIndex = 0;
  /** Where the reads of the current event-loop turn start; null until a read asks for it. */
  private turnStart: number | null = null;

  constructor(options: GroupClientOptions) {
    if (options.members.length === 0) throw new Error(`group ${options.group} needs members`);
    this.options = options;
    this.members = [...options.members];
    this.now = options.now ?? Date.now;
  }

  /**
   * The group's members changed (a membership change): try these from now on. With the index of the configuration
   * they are, only if it is newer than the one held (an answer may have brought it already); without, at once.
   */
  setMembers(members: readonly NodeId[], configIndex?: number): void {
    if (members.length === 0) return;
    if (configIndex !== undefined && configIndex <= this.configIndex) return;
    const changed = members.length !== this.members.length || members.some((member) => !this.members.includes(member));
    this.members = [...members];
    if (configIndex !== undefined) this.configIndex = configIndex;
    this.cursor %= this.members.length;
    if (this.leaderHint !== null && !this.members.includes(this.leaderHint)) this.leaderHint = null;
    // Bounded by the members: forget the health of those no longer tried.
    for (const member of this.downUntilMs.keys()) if (!this.members.includes(member)) this.downUntilMs.delete(member);
    if (changed) this.options.onMembersChanged?.(this.members, this.configIndex);
  }

  /** The members tried and the index of the configuration they came from (0: the members given at construction). */
  get configuration(): { readonly index: number; readonly members: readonly NodeId[] } {
    return { index: this.configIndex, members: this.members };
  }

  get leader(): NodeId | null {
    return this.leaderHint;
  }

  /** Members believed up, in round-robin order from `start` (by default after the last one used). */
  healthyMembers(start: number = this.cursor): NodeId[] {
    const nowMs = this.now();
    const members = this.members;
    const ordered: NodeId[] = [];
    for (let offset = 0; offset < members.length; offset += 1) {
      const member = members[(start + offset) % members.length]!;
      if ((this.downUntilMs.get(member) ?? 0) <= nowMs) ordered.push(member);
    }
    return ordered;
  }

  markDown(member: NodeId): void {
    this.downUntilMs.set(member, this.now() + (this.options.downForMs ?? 1_000));
    if (this.leaderHint === member) this.leaderHint = null;
  }

  markUp(member: NodeId): void {
    this.downUntilMs.delete(member);
  }

  /** A linearizable read: any member may answer (followers use ReadIndex through the leader); see the turn rule above. */
  read<Q extends QueryOf<Machine>>(query: Q, deadlineAtMs: number): Promise<GroupAnswer<AnswerTo<Machine, Q>>> {
    return this.call<AnswerTo<Machine, Q>>({ type: 'read', query }, deadlineAtMs, false);
  }

  /** A write: only the leader accepts; redirects are followed. */
  propose(command: CommandOf<Machine>, deadlineAtMs: number): Promise<GroupAnswer<ResultOf<Machine>>> {
    return this.call<ResultOf<Machine>>({ type: 'propose', data: encodeCommand(command) }, deadlineAtMs, true);
  }

  /** A leader-only request of the application (answers {ok:false, error:'notLeader', leader} when misdirected). */
  leaderCall<Type extends keyof Calls & string>(request: Calls[Type]['request'] & { readonly type: Type }, deadlineAtMs: number): Promise<GroupAnswer<Calls[Type]['answer']>> {
    return this.call<Calls[Type]['answer']>(request, deadlineAtMs, true);
  }

  /** The first member for this turn's reads; the cursor moves on once per turn. */
  private readStart(): number {
    if (this.turnStart === null) {
      this.turnStart = this.cursor;
      this.cursor = (this.cursor + 1) % this.members.length;
      setImmediate(() => {
        this.turnStart = null;
      });
    }
    return this.turnStart;
  }

  private pickTarget(leaderOnly: boolean, tried: Set<NodeId>): NodeId | null {
    const healthy = this.healthyMembers(leaderOnly ? this.cursor : this.readStart());
    // Writes go to the leader; reads are spread round-robin (a follower serves them through ReadIndex).
    if (leaderOnly && this.leaderHint !== null && !tried.has(this.leaderHint) && healthy.includes(this.leaderHint)) return this.leaderHint;
    return healthy.find((member) => !tried.has(member)) ?? null;
  }

  private async call<Result>(message: { readonly type: string; readonly [field: string]: unknown }, deadlineAtMs: number, leaderOnly: boolean): Promise<GroupAnswer<Result>> {
    const attemptsMax = this.options.attemptsMax ?? 256;
    const tried = new Set<NodeId>();
    let lastProblem = 'no attempt made';
    let backoffMs = 5;
    for (let attempt = 0; attempt < attemptsMax; attempt += 1) {
      const remainingMs = deadlineAtMs - this.now();
      if (remainingMs <= 0) break;
      const target = this.pickTarget(leaderOnly, tried);
      if (target === null) {
        // Every healthy member was tried (an election may be under way): wait a little and start over.
        tried.clear();
        await sleep(Math.min(backoffMs, Math.max(0, deadlineAtMs - this.now())));
        backoffMs = Math.min(backoffMs * 2, retryBackoffMsMax);
        if (this.healthyMembers().length === 0) this.downUntilMs.clear();
        continue;
      }
      tried.add(target);
      if (leaderOnly) this.cursor = (this.members.indexOf(target) + 1) % this.members.length;
      const timeoutMs = Math.max(1, Math.min(remainingMs, this.options.attemptTimeoutMs ?? 2_000));
      let answer: unknown;
      try {
        answer = await this.options.ask(target, { ...message, knownConfigIndex: this.configIndex }, timeoutMs);
      } catch (error) {
        lastProblem = `${target}: ${error instanceof Error ? error.message : String(error)}`;
        if (this.options.isUnavailable(error)) this.markDown(target);
        else if (this.leaderHint === target) this.leaderHint = null;
        this.options.onFailover?.(target, null, lastProblem);
        continue;
      }
      this.markUp(target);
      this.followAnswer(answer);
      const answered = classify(answer);
      if (answered === null) {
        lastProblem = `${target} answered something that is neither an answer nor a refusal`;
        continue;
      }
      if (answered.kind === 'refused') {
        const refusal = answered.refusal;
        if (refusesRequest(refusal)) throw new GroupRefusedError(this.options.group, refusal);
        lastProblem = `${target} refused: ${describeRefusal(refusal)}`;
        const redirect = refusal.leader;
        this.leaderHint = redirect !== null && redirect !== target ? redirect : null;
        if (this.leaderHint !== null) {
          // A live member names it as leader: fresher news than our own down mark (it may have just restarted).
          tried.delete(this.leaderHint);
          this.markUp(this.leaderHint);
        }
        // No leader to follow (an election is under way) or a leader that cannot take work yet: wait a little, so
        // the attempts are spread over the deadline instead of spent in a burst.
        if (this.leaderHint === null || waitAfter.has(refusal.error)) {
          await sleep(Math.min(backoffMs, Math.max(0, deadlineAtMs - this.now())));
          backoffMs = Math.min(backoffMs * 2, retryBackoffMsMax);
        }
        continue;
      }
      if (leaderOnly) this.leaderHint = target;
      return { result: accepted<Result>(answered.answer), index: answered.answer.index, servedBy: target };
    }
    throw new GroupUnavailableError(this.options.group, lastProblem);
  }

  /** A member's answer names a configuration newer than the one held: its voters and learners are tried from now on. */
  private followAnswer(answer: unknown): void {
    if (typeof answer !== 'object' || answer === null || !('configuration' in answer)) return;
    const configuration = parseConfiguration(answer.configuration);
    if (configuration !== null) this.setMembers([...configuration.voters, ...configuration.learners], configuration.index);
  }
}

/** The members run the group's state machine: an accepted answer's result has the type the request names. */
function accepted<Result>(answer: Accepted): Result {
  return answer.result as Result;
}
