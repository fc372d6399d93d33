// The operations calls the gateway forwards to the actors (the admin routes): an action on one actor (kill, stop,
// start, isolate, heal), a replica group's membership (read, add, remove) and an online backup of both groups.
//
// Owns: the actor port (what the gateway needs of the actor system) and the actors' errors as the gateway's
// (gatewayError). It keeps no member list of its own: each call reads the group's live configuration.
// Promises:
// - A membership change goes through the group's leader; after it, the gateway's group clients and every order
//   replica's catalog client try the new members at once (every other client of the group follows it from the
//   replicas' answers, client.ts). A removed member's actor stops and its database is kept aside, on the node
//   that hosts it (asked once; a node that does not answer is logged as retireSkipped).
// - An action that cuts the cache actor off revokes the near cache before and after (the cache client's guard).
// - A backup copies the order group, then the catalog group, a follower first in each, while the catalog holds
//   its dedupe pruning (a lease); a copy a replica staged on another host is read over the transport in checked
//   chunks. It asks only the members of each group's live configuration (the replicas' statuses, or the group
//   client's, whichever is newer), so a gateway that made no change, or was started from an old list, never
//   copies a removed member's frozen state.
// Needs: the actor port, the gateway's two group clients and the cache client's guard (src/http/actor-backend.ts
// makes them and hands the admin calls of the Backend contract here).
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CatalogMachine } from '../actors/catalog/commands.js';
import type { OrderCalls } from '../actors/order/actor.js';
import type { OrderMachine } from '../actors/order/state.js';
import { GroupUnavailableError, type GroupClient } from '../raft/client.js';
import type { BackupAnswer } from '../raft/replica.js';
import { backupChunkBytes, type BackupChunk } from '../raft/staged-backups.js';
import { ByteRate } from '../raft/storage/byte-rate.js';
import type { Logger } from '../runtime/actor.js';
import { isRuntimeError } from '../runtime/errors.js';
import type { ActorSystem } from '../runtime/system.js';
import { clusterStatus, membersView } from './cluster-status.js';
import {
  BackupFailedError,
  MembershipRefusedError,
  UnavailableError,
  UnknownActorError,
  type ActorAction,
  type BackupOptions,
  type ClusterStatus,
  type GroupBackup,
  type GroupMembers,
  type ReplicaGroup,
} from './backend.js';

/** How long one replica may take to copy its group's state (a 2,000,000-order database takes seconds). */
export const backupTimeoutMs = 60 * 60_000;
/** How long a backup holds the catalog's dedupe pruning at most (a lease, should the gateway die mid-backup). */
export const backupPruneHoldMs = 3 * backupTimeoutMs;

/**
 * What the backend needs of the actor system: asks, the statuses, and the control of one actor. ActorSystem's own
 * methods; the multi-host node offers the same for actors on every host.
 */
export type ActorPort = Pick<ActorSystem, 'ask' | 'status' | 'kill' | 'stop' | 'startActor' | 'isolate' | 'heal'>;

export interface AdminOptions {
  readonly actors: ActorPort;
  /** The start-up members of each group: what the group clients begin with; every change replaces them. */
  readonly catalogMembers: readonly string[];
  readonly orderMembers: readonly string[];
  /** Which node each actor runs on, for /cluster; "local" when absent. */
  readonly nodeOf?: (actor: string) => string;
  /** The gateway's own node, to tell replicas beside it from those on other hosts (backups); absent: one process. */
  readonly localNode?: string;
  /**
   * The bound of the operations calls that come with no request deadline (membership changes); a request's own
   * calls take its deadline's time remaining instead.
   */
  readonly deadlineMs?: number;
  readonly log: Logger;
  /** Keeps a removed member's database under another name (never deletes it); absent: left where it is. */
  readonly retireDatabase?: (name: string) => void;
  /**
   * Stops a removed member that runs on another node and renames its database there (the node's `retire` control
   * request), answering within `timeoutMs`; absent: such a member is only stopped, its database left as it is.
   */
  readonly retireElsewhere?: (name: string, timeoutMs: number) => Promise<void>;
  /** Starts a new member's replica actor (its own thread and database); absent: members cannot be added here. */
  readonly startMember?: (group: ReplicaGroup, name: string, node: string | null) => Promise<void>;
  /** Why a new member cannot be started on `node` (null: it can); asked before anything is proposed. */
  readonly memberNodeProblem?: (node: string | null) => string | null | Promise<string | null>;
}

/** What the admin calls use of the gateway's own clients. */
export interface AdminClients {
  /** Holds the catalog's dedupe pruning for a backup; follows the catalog group's membership changes. */
  readonly catalog: Pick<GroupClient<CatalogMachine>, 'propose' | 'setMembers' | 'configuration'>;
  /** Follows the order group's membership changes. */
  readonly orders: Pick<GroupClient<OrderMachine, OrderCalls>, 'setMembers' | 'configuration'>;
  /** Runs an action on an actor; `cutsOff`: the action kills, stops or isolates it (the cache client's guard). */
  readonly aroundAction: (name: string, cutsOff: boolean, perform: () => Promise<void>) => Promise<void>;
}

export const isUnavailable = (error: unknown) => isRuntimeError(error, 'ACTOR_UNAVAILABLE');

/** An actor's or a group client's error as the gateway's: no answer in time, or a full or absent actor, is 503. */
export function gatewayError(error: unknown): unknown {
  if (error instanceof GroupUnavailableError) return new UnavailableError(error.message);
  if (isRuntimeError(error, 'ASK_TIMEOUT') || isRuntimeError(error, 'MAILBOX_FULL') || isUnavailable(error)) {
    return new UnavailableError(error instanceof Error ? error.message : String(error));
  }
  return error;
}

export class AdminForwarding {
  private readonly options: AdminOptions;
  private readonly clients: AdminClients;
  private readonly deadlineMs: number;

  constructor(options: AdminOptions, clients: AdminClients) {
    this.options = options;
    this.clients = clients;
    this.deadlineMs = options.deadlineMs ?? 3_000;
  }

  /**
   * One group after the other, order first: every catalog deduct an order the order file holds depends on is then
   * in the catalog file (docs/operations.md, "Why two indexes agree"). In each group a follower is asked first, so
   * the leader's thread keeps serving; the leader only when no follower could.
   */
  async backup(directory: string, options: BackupOptions = { bytesPerSecond: null }): Promise<readonly GroupBackup[]> {
    const runtimeStatuses = await this.options.actors.status();
    const statuses = clusterStatus(runtimeStatuses, this.options.nodeOf);
    // The catalog prunes no deduct record from before the order copy until the catalog copy is done.
    await this.holdPrunes(Date.now() + backupPruneHoldMs);
    try {
      const backups: GroupBackup[] = [];
      for (const group of ['order', 'catalog'] as const) {
        backups.push(await this.backupGroup(group, this.liveMembers(runtimeStatuses, group), statuses, directory, options));
      }
      return backups;
    } finally {
      await this.holdPrunes(0).catch((error: unknown) => this.options.log.warn({ event: 'backup' },
        `backup: the hold on dedupe pruning was not released (${error instanceof Error ? error.message : String(error)}); it ends by its lease`));
    }
  }

  /**
   * A group's live configuration, voters then learners: the one the replicas' statuses report (membersView) or the
   * one this gateway's group client follows from the replicas' answers, whichever has the higher index. Never
   * the lists the gateway was started with once a change is known: a removed member may still run (its node did
   * not answer the stop) and would give a copy of a state that stopped moving.
   */
  private liveMembers(runtimeStatuses: Parameters<typeof membersView>[0], group: ReplicaGroup): readonly string[] {
    const followed = (group === 'catalog' ? this.clients.catalog : this.clients.orders).configuration;
    let reported: GroupMembers | null = null;
    try {
      reported = membersView(runtimeStatuses, group);
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
    }
    if (reported === null || reported.configIndex < followed.index) return followed.members;
    return [...reported.voters, ...reported.learners];
  }

  private async holdPrunes(untilMs: number): Promise<void> {
    try {
      await this.clients.catalog.propose({ type: 'holdPrunes', untilMs }, performance.now() + 5_000);
    } catch (error) {
      throw new BackupFailedError(`the catalog group could not hold dedupe pruning for the backup (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  private async backupGroup(group: GroupBackup['group'], members: readonly string[], statuses: ClusterStatus, directory: string, options: BackupOptions): Promise<GroupBackup> {
    const role = (name: string) => statuses.actors.find((actor) => actor.name === name);
    const candidates = members
      .filter((name) => role(name)?.alive === true)
      .sort((left, right) => Number(role(left)?.role === 'leader') - Number(role(right)?.role === 'leader'));
    const file = `${group}.db`;
    const destination = join(directory, file);
    const failures: string[] = [];
    for (const member of candidates) {
      // A replica on this node writes its copy here; one on another node stages it there and it is read over the
      // transport in checked chunks.
      const local = this.isOnThisNode(member);
      let answer: BackupAnswer;
      try {
        answer = await this.options.actors.ask<BackupAnswer>(member, { type: 'backup', destination: local ? destination : null, bytesPerSecond: options.bytesPerSecond }, { timeoutMs: backupTimeoutMs });
        if (answer.ok && answer.staged !== undefined) await fetchStagedCopy(this.options.actors, member, answer.staged, destination, answer, options.bytesPerSecond);
      } catch (error) {
        failures.push(`${member}: ${error instanceof Error ? error.message : String(error)}`);
        rmSync(destination, { force: true });
        continue;
      }
      if (!answer.ok) {
        failures.push(`${member}: ${answer.error}`);
        continue;
      }
      if (!existsSync(destination)) {
        failures.push(`${member} wrote its copy on its own host, not beside the gateway`);
        continue;
      }
      const { member: _member, ok: _ok, ...record } = answer;
      return { group, file, member, ...record, capturedAt: new Date().toISOString() };
    }
    throw new BackupFailedError(`no ${group} replica could take a backup (${failures.join('; ') || 'none is alive'})`);
  }

  /** True when `member` runs on the gateway's own node (always, without a node map: one process). */
  private isOnThisNode(member: string): boolean {
    const nodeOf = this.options.nodeOf;
    const localNode = this.options.localNode;
    return nodeOf === undefined || localNode === undefined || nodeOf(member) === localNode;
  }

  async actorAction(name: string, action: ActorAction): Promise<void> {
    const known = (await this.options.actors.status()).some((status) => status.name === name);
    if (!known) throw new UnknownActorError(name);
    const cutsOff = action === 'kill' || action === 'stop' || action === 'isolate';
    await this.clients.aroundAction(name, cutsOff, () => this.performAction(name, action));
  }

  async members(group: ReplicaGroup): Promise<GroupMembers> {
    return membersView(await this.options.actors.status(), group);
  }

  async removeMember(group: ReplicaGroup, name: string): Promise<GroupMembers> {
    const before = await this.members(group);
    if (!before.voters.includes(name) && !before.learners.includes(name)) {
      throw new MembershipRefusedError(`${name} is not a member of the ${group} group (voters ${before.voters.join(', ')}; learners ${before.learners.join(', ') || 'none'})`);
    }
    if (before.leader === null) throw new UnavailableError(`the ${group} group has no leader`);
    const answer = await this.options.actors.ask(before.leader, { type: 'changeMembership', change: { type: 'remove', node: name } }, { timeoutMs: this.deadlineMs })
      .catch((error: unknown) => { throw gatewayError(error); }) as { ok: boolean; reason?: string; error?: string };
    if (!answer.ok) {
      if (answer.error === 'notLeader' || answer.error === 'dropped' || answer.error === 'busy') throw new UnavailableError(`the ${group} leader moved: ${answer.reason ?? answer.error}`);
      throw new MembershipRefusedError(`the ${group} leader refused to remove ${name}: ${answer.reason ?? answer.error ?? 'no reason'}`);
    }
    // The change committed: the removed member's actor stops and its database is kept aside.
    const known = (await this.options.actors.status()).some((status) => status.name === name);
    if (known) await this.retire(group, name);
    this.options.log.info({ group, member: name, event: 'memberRemoved' }, `gateway: ${name} removed from the ${group} group`);
    return this.followMembers(group, await this.members(group));
  }

  /**
   * Stops a removed member and renames its database: here, or on the node that hosts it (one control request,
   * never retried: a node that does not answer is logged, and the operator retires the member there by hand,
   * docs/multihost.md). A member on a host that is gone (the reason it is removed) cannot be stopped: it is out
   * of the group anyway.
   */
  private async retire(group: ReplicaGroup, name: string): Promise<void> {
    const retireElsewhere = this.options.retireElsewhere;
    if (retireElsewhere !== undefined && !this.isOnThisNode(name)) {
      const node = this.options.nodeOf?.(name) ?? 'unknown';
      await retireElsewhere(name, this.deadlineMs).catch((error: unknown) => {
        this.options.log.warn({ group, member: name, node, event: 'retireSkipped' },
          `gateway: ${name} is removed but ${node} did not retire it (${error instanceof Error ? error.message : String(error)}); it may still run there and its database keeps its name: stop it and rename its files there by hand`);
      });
      return;
    }
    const stopped = await this.options.actors.stop(name).then(() => true, (error: unknown) => {
      if (!isUnavailable(error)) throw error;
      this.options.log.warn({ group, member: name, event: 'memberUnreachable' }, `gateway: ${name} is removed but its node did not answer; it was not stopped`);
      return false;
    });
    if (stopped) this.options.retireDatabase?.(name);
  }

  async addMember(group: ReplicaGroup, request: { readonly name: string; readonly node: string | null; readonly promote: boolean }): Promise<GroupMembers> {
    const startMember = this.options.startMember;
    if (startMember === undefined) throw new MembershipRefusedError('this gateway cannot start new members');
    const name = request.name;
    if (!name.startsWith(`${group}-`)) throw new MembershipRefusedError(`a ${group} member's name starts with "${group}-", got ${name}`);
    const nodeProblem = (await this.options.memberNodeProblem?.(request.node)) ?? null;
    if (nodeProblem !== null) throw new MembershipRefusedError(nodeProblem);
    const before = await this.members(group);
    const statuses = await this.options.actors.status();
    const running = statuses.some((status) => status.name === name && status.alive);
    const exists = statuses.some((status) => status.name === name);
    if (before.learners.includes(name) && (running || !exists)) {
      // The same add again, after one answered 503 while the learner caught up (or to promote a kept learner):
      // it goes on from where it is. A learner whose add answered 503 before its actor was started (the change
      // committed after the ask gave up) gets its actor now.
      if (!exists) await startMember(group, name, request.node);
      if (!request.promote) return this.followMembers(group, await this.members(group));
    } else {
      if (before.voters.includes(name) || before.learners.includes(name)) throw new MembershipRefusedError(`${name} is already a member of the ${group} group`);
      if ((await this.options.actors.status()).some((status) => status.name === name)) {
        throw new MembershipRefusedError(`an actor named ${name} exists already; a new member needs a name never used`);
      }
      await this.proposeChange(group, { type: 'addLearner', node: name });
      await startMember(group, name, request.node);
      if (!request.promote) return this.followMembers(group, await this.members(group));
    }
    // Promoted once it is within the leader's bound; refused (learnerBehind) until then, so try again, bounded.
    const deadline = performance.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.proposeChange(group, { type: 'promote', node: name }, true);
      if (answer === 'done') break;
      if (performance.now() > deadline) {
        throw new UnavailableError(`${name} joined as a learner but did not catch up in ${this.deadlineMs} ms; it stays a learner until the same add is sent again`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))));
    }
    this.options.log.info({ group, member: name, event: 'memberAdded' }, `gateway: ${name} added to the ${group} group`);
    return this.followMembers(group, await this.members(group));
  }

  /**
   * After a change: this gateway's group client tries the new members at once, and so do the order replicas'
   * catalog clients (told with {type:'catalogMembers'}, also a new order member, which starts from its node's
   * list). Each with the index of the configuration, so a client that already follows a newer one keeps it (another
   * gateway may have changed the catalog since this one last did). Other clients follow from the replicas' answers.
   */
  private followMembers(group: ReplicaGroup, view: GroupMembers): GroupMembers {
    const members = [...view.voters, ...view.learners];
    (group === 'catalog' ? this.clients.catalog : this.clients.orders).setMembers(members, view.configIndex);
    const catalog = this.clients.catalog.configuration;
    for (const order of this.clients.orders.configuration.members) {
      void this.options.actors.ask(order, { type: 'catalogMembers', members: catalog.members, configIndex: catalog.index }, { timeoutMs: 1_000 }).catch(() => undefined);
    }
    return view;
  }

  /** One membership change through the group's leader; `retryBehind`: a learnerBehind refusal answers 'behind'. */
  private async proposeChange(group: ReplicaGroup, change: { type: 'addLearner' | 'promote' | 'remove'; node: string }, retryBehind = false): Promise<'done' | 'behind'> {
    const view = await this.members(group);
    if (view.leader === null) throw new UnavailableError(`the ${group} group has no leader`);
    const answer = await this.options.actors.ask(view.leader, { type: 'changeMembership', change }, { timeoutMs: this.deadlineMs })
      .catch((error: unknown) => { throw gatewayError(error); }) as { ok: boolean; reason?: string; error?: string };
    if (answer.ok) return 'done';
    if (retryBehind && (answer.error === 'learnerBehind' || answer.error === 'changeInProgress')) return 'behind';
    if (answer.error === 'notLeader' || answer.error === 'dropped' || answer.error === 'busy' || answer.error === 'leaderNotReady') {
      throw new UnavailableError(`the ${group} leader could not take the change now: ${answer.reason ?? answer.error}`);
    }
    throw new MembershipRefusedError(`the ${group} leader refused to ${change.type} ${change.node}: ${answer.reason ?? answer.error ?? 'no reason'}`);
  }

  private performAction(name: string, action: ActorAction): Promise<void> {
    switch (action) {
      case 'kill':
        return this.options.actors.kill(name);
      case 'stop':
        return this.options.actors.stop(name);
      case 'start':
        return this.options.actors.startActor(name);
      case 'isolate':
        return this.options.actors.isolate(name);
      case 'heal':
        return this.options.actors.heal(name);
    }
  }
}

/** Attempts at one chunk of a staged copy whose checksum did not match (or whose ask failed) before giving up. */
const chunkAttemptsMax = 3;
const chunkTimeoutMs = 30_000;

/**
 * Reads a copy `member` staged on its own host into `destination`, chunk by chunk (staged-backups.ts): each
 * chunk's sha256 is checked, a bad one asked again (at most chunkAttemptsMax times), and the whole file's size
 * and sha256 must be the record's. The staged copy is dropped afterwards, whatever happened. Paced as the copy was.
 */
async function fetchStagedCopy(actors: ActorPort, member: string, staged: string, destination: string, record: { readonly bytes: number; readonly sha256: string }, bytesPerSecond: number | null): Promise<void> {
  const rate = new ByteRate(bytesPerSecond, performance.now());
  const file = await open(destination, 'wx');
  const digest = createHash('sha256');
  let offset = 0;
  try {
    for (;;) {
      const chunk = await readChunk(actors, member, staged, offset);
      const bytes = Buffer.from(chunk.data, 'base64');
      await file.write(bytes, 0, bytes.length, offset);
      digest.update(bytes);
      offset += bytes.length;
      if (offset > record.bytes) throw new Error(`the staged copy on ${member} is longer than its record (${record.bytes} bytes)`);
      if (chunk.end) break;
      const waitMs = rate.take(bytes.length, performance.now());
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    await file.sync();
  } finally {
    await file.close();
    void actors.ask(member, { type: 'backupDrop', staged }, { timeoutMs: chunkTimeoutMs }).catch(() => undefined);
  }
  const sha256 = digest.digest('hex');
  if (offset !== record.bytes || sha256 !== record.sha256) {
    throw new Error(`the copy read from ${member} is ${offset} bytes with sha256 ${sha256}, its record says ${record.bytes} bytes and ${record.sha256}`);
  }
}

async function readChunk(actors: ActorPort, member: string, staged: string, offset: number): Promise<Extract<BackupChunk, { ok: true }>> {
  let problem = '';
  for (let attempt = 1; attempt <= chunkAttemptsMax; attempt += 1) {
    const chunk = await actors.ask<BackupChunk>(member, { type: 'backupRead', staged, offset }, { timeoutMs: chunkTimeoutMs }).catch((error: unknown) => ({ ok: false as const, error: error instanceof Error ? error.message : String(error) }));
    if (!chunk.ok) {
      problem = chunk.error;
      continue;
    }
    const bytes = typeof chunk.data === 'string' ? Buffer.from(chunk.data, 'base64') : null;
    if (bytes !== null && chunk.offset === offset && bytes.length <= backupChunkBytes && (bytes.length > 0 || chunk.end) && createHash('sha256').update(bytes).digest('hex') === chunk.sha256) return chunk;
    problem = `chunk at ${offset} failed its checksum`;
  }
  throw new Error(`reading the staged copy at offset ${offset}: ${problem} (${chunkAttemptsMax} attempts)`);
}
