// A simulated scenario: everything one seed decides about a run, printed beside the seed so a run can be read
// and replayed. Drawn from the seed alone (and the family, which is itself either named or drawn from the seed).
//
// Families: `random` (the broad search), `harsh` (five nodes, one entry per append, frequent crashes), and `figure8`,
// biased towards the shape of Figure 8 of the Raft paper: leaders crash soon after they append, appends carry one
// entry, and appends that carry an entry of the sender's own term are often lost while older entries flow, so an
// entry of a previous term can reach a majority while the new leader's no-op does not. `mixed` (the default of
// `npm run sim`) draws the family from the seed: one seed in four is a figure8 seed.
import type { CoreBugs } from './core-bugs.js';
import { SeededRandom } from './random.js';

/** The deliberate bugs a run may switch on: the core's, and the identity layer's forgetDisk. */
export interface SimulationBugs extends CoreBugs {
  readonly forgetDisk?: boolean;
  /**
   * A deliberate bug of the simulated client, to prove the "no acknowledged write is lost" check can fail: a write
   * counts as acknowledged as soon as a leader accepted it, before it committed.
   */
  readonly acknowledgeOnPropose?: boolean;
}

export type ScenarioFamily = 'random' | 'harsh' | 'figure8' | 'membership';
export type FamilyChoice = ScenarioFamily | 'mixed';
export const familyChoices: readonly FamilyChoice[] = ['mixed', 'random', 'harsh', 'figure8', 'membership'];

export interface Scenario {
  readonly seed: number;
  readonly family: ScenarioFamily;
  /** Voters of the bootstrap configuration. */
  readonly nodeCount: 3 | 5;
  /** Names never in the bootstrap configuration, each added (as a learner) at most once by a membership change. */
  readonly spareNodeCount: number;
  /** Per tick, the chance that the leader proposes a membership change (add a learner, promote, remove). */
  readonly membershipChangeProbability: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  /** Every message takes 1..delayTicksMax ticks; different delays reorder messages. */
  readonly delayTicksMax: number;
  /** Per tick, the chance that a new partition (symmetric, one-way or isolating one node) starts. */
  readonly partitionProbability: number;
  readonly partitionTicksMax: number;
  /** Per tick, the chance that one live node crashes (losing what it had not persisted). */
  readonly crashProbability: number;
  readonly downTicksMax: number;
  /** When a leader persists entries it appended, the chance that it is doomed to crash within leaderCrashDelayTicksMax. */
  readonly leaderCrashAfterAppendProbability: number;
  readonly leaderCrashDelayTicksMax: number;
  /** The chance that an append carrying an entry of the sender's own term is lost; older entries are not targeted. */
  readonly ownTermAppendLossProbability: number;
  /** Per tick, the chance that the leader hands leadership over (to a random follower, or as a graceful stop). */
  readonly transferProbability: number;
  /** Of those hand-overs, the share that are a graceful stop: urgent transfer to the best follower, then a crash. */
  readonly gracefulStopShare: number;
  readonly proposeProbability: number;
  readonly readProbability: number;
  /** The application snapshots and compacts once it applied this many entries past its last snapshot. */
  readonly compactEveryEntries: number;
  /** A leader that wants an image for a follower behind its log gets it 0..this many ticks later. */
  readonly imageBuildTicksMax: number;
  /**
   * A deliberate bug of the driver, to prove the checker catches it: an image is labelled with the index applied
   * when it is offered instead of the one its state was read at.
   */
  readonly imageLabelledAtOffer?: boolean;
  /**
   * A deliberate bug of the identity layer, to prove the checker catches amnesia: replica ids derived from the
   * name (as etcd derives member ids from the configuration), so a replica that lost its disk comes back under
   * the id its peers knew, and votes.
   */
  readonly forgetDisk?: boolean;
  /**
   * A deliberate bug of the simulated client, to prove the "no acknowledged write is lost" check can fail: a write
   * counts as acknowledged as soon as a leader accepted it, before it committed.
   */
  readonly acknowledgeOnPropose?: boolean;
  /**
   * A deliberate bug of the simulated disk, to prove the commit-quorum check can fail: an off-thread fsync is
   * reported done before the write is durable (needs syncTicksMax, which it sets when null).
   */
  readonly syncReportedEarly?: boolean;
  /** Of the crashes, the share that also lose the disk (the whole disk, or the database alone). */
  readonly diskLossShare: number;
  /** Of the crashes at a write, the share that tear it (its entries above the commit index are lost). */
  readonly tornWriteShare: number;
  /**
   * Null: every write is fsynced before persist returns. A number: entries, term and vote are written at once and
   * fsynced off the thread (the production storage's persistThen), done 0..this many ticks later; a crash before
   * then loses the write and everything after it.
   */
  readonly syncTicksMax: number | null;
  /** Per tick, the chance that one process pauses (no ticks, no messages) for 1..pauseTicksMax ticks. */
  readonly pauseProbability: number;
  readonly pauseTicksMax: number;
  /** The chance that a sent message is also delivered to a node it was not for (which must refuse it). */
  readonly misdeliveryProbability: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxEntriesPerAppend: number;
  readonly maxInflightAppends: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly safetyTicks: number;
  readonly livenessTicksMax: number;
  /** The core's planted bugs; the nodes run rulesWith(bugs) (core-bugs.ts). */
  readonly bugs: CoreBugs;
}

/** The scenario of `seed` in the chosen family; `mixed` makes every fourth seed a figure8 seed. */
export function scenarioFor(seed: number, family: FamilyChoice, bugs: SimulationBugs = {}, safetyTicks = 1000): Scenario {
  switch (family) {
    case 'mixed':
      return seed % 4 === 0 ? figure8Scenario(seed, bugs, safetyTicks) : randomScenario(seed, bugs, safetyTicks);
    case 'random':
      return randomScenario(seed, bugs, safetyTicks);
    case 'harsh':
      return harshScenario(seed, bugs, safetyTicks);
    case 'figure8':
      return figure8Scenario(seed, bugs, safetyTicks);
    case 'membership':
      return membershipScenario(seed, bugs, safetyTicks);
  }
}

/**
 * Every fault of the random family, plus membership changes: the leader adds learners (fresh names from a pool of
 * spares), promotes them, and removes members — followers, learners and itself — throughout the run.
 */
export function membershipScenario(seed: number, bugs: SimulationBugs = {}, safetyTicks = 1000): Scenario {
  return familyScenario('membership', seed, bugs, safetyTicks, seed * 7919 + 13, (random) => ({
    spareNodeCount: random.pick([2, 4]),
    membershipChangeProbability: random.pick([0.01, 0.03, 0.1]),
  }));
}

/** Harsher draws (five nodes, one entry per append, frequent crashes) that make rare interleavings likely. */
export function harshScenario(seed: number, bugs: SimulationBugs = {}, safetyTicks = 1000): Scenario {
  return familyScenario('harsh', seed, bugs, safetyTicks, seed * 40503 + 7, (random) => ({
    nodeCount: 5,
    maxEntriesPerAppend: 1,
    crashProbability: random.pick([0.02, 0.05]),
    downTicksMax: random.pick([10, 40]),
    partitionProbability: random.pick([0.01, 0.03]),
    proposeProbability: 0.8,
  }));
}

/**
 * The Figure 8 shape: (a) a leader's entry reaches one follower and the leader crashes; (b) another node wins a
 * later term, appends, and crashes; (c) the first leader returns, wins, and brings its old entry to a majority while
 * its no-op is lost; it crashes; (d) the node of (b), whose last term is higher, wins and overwrites the entry. A
 * core that commits the old entry in (c) by counting breaks State Machine Safety; a correct core never committed it.
 */
export function figure8Scenario(seed: number, bugs: SimulationBugs = {}, safetyTicks = 1000): Scenario {
  return familyScenario('figure8', seed, bugs, safetyTicks, seed * 69069 + 11, (random) => ({
    nodeCount: 5,
    lossProbability: random.pick([0, 0.02]),
    duplicateProbability: 0,
    delayTicksMax: random.pick([1, 2]),
    partitionProbability: 0,
    crashProbability: random.pick([0, 0.005]),
    downTicksMax: random.pick([15, 30]),
    leaderCrashAfterAppendProbability: random.pick([0.5, 0.9]),
    leaderCrashDelayTicksMax: random.pick([8, 16]),
    ownTermAppendLossProbability: random.pick([0.5, 0.75]),
    transferProbability: 0,
    proposeProbability: random.pick([0.05, 0.2]),
    readProbability: 0.05,
    compactEveryEntries: 1000,
    imageBuildTicksMax: 0,
    maxEntriesPerAppend: 1,
    maxInflightAppends: 1,
  }));
}

/**
 * The random scenario of `seed` under another family's name, with the fields that family draws again from its own
 * stream (seeded by `streamSeed`), so each family keeps every other draw of the random family.
 */
function familyScenario(
  family: ScenarioFamily, seed: number, bugs: SimulationBugs, safetyTicks: number, streamSeed: number,
  redraw: (random: SeededRandom) => Partial<Omit<Scenario, 'seed' | 'family'>>,
): Scenario {
  const random = new SeededRandom(streamSeed);
  return { ...randomScenario(seed, bugs, safetyTicks), family, ...redraw(random) };
}

export function randomScenario(seed: number, bugs: SimulationBugs = {}, safetyTicks = 1000): Scenario {
  const random = new SeededRandom(seed * 2654435761);
  const protections = random.chance(0.8);
  return {
    seed,
    family: 'random',
    nodeCount: random.pick([3, 5] as const),
    lossProbability: random.pick([0, 0.01, 0.05, 0.15]),
    duplicateProbability: random.pick([0, 0.02, 0.1]),
    delayTicksMax: random.pick([1, 2, 4]),
    partitionProbability: random.pick([0, 0.005, 0.02]),
    partitionTicksMax: random.pick([20, 60]),
    crashProbability: random.pick([0, 0.003, 0.01]),
    downTicksMax: random.pick([5, 40]),
    proposeProbability: random.pick([0.1, 0.3, 0.8]),
    readProbability: random.pick([0.05, 0.2, 0.5]),
    compactEveryEntries: random.integer(5, 40),
    electionTicks: 10,
    heartbeatTicks: random.pick([1, 2, 3]),
    maxEntriesPerAppend: random.pick([1, 4, 64]),
    maxInflightAppends: random.pick([1, 4]),
    preVote: protections || random.chance(0.5),
    checkQuorum: protections || random.chance(0.5),
    safetyTicks,
    livenessTicksMax: 600,
    bugs: coreBugs(bugs),
    ...(bugs.forgetDisk === true ? { forgetDisk: true } : {}),
    // Drawn last, so that adding them left the earlier draws of every seed unchanged.
    leaderCrashAfterAppendProbability: 0,
    leaderCrashDelayTicksMax: 1,
    ownTermAppendLossProbability: 0,
    transferProbability: random.pick([0, 0.003, 0.01]),
    gracefulStopShare: random.pick([0.3, 0.6]),
    imageBuildTicksMax: random.pick([0, 3, 10]),
    diskLossShare: random.pick([0, 0.1, 0.3]),
    tornWriteShare: random.pick([0, 0.3]),
    pauseProbability: random.pick([0, 0.002, 0.01]),
    pauseTicksMax: random.pick([5, 30]),
    misdeliveryProbability: random.pick([0, 0.001]),
    spareNodeCount: 0,
    membershipChangeProbability: 0,
    syncTicksMax: random.pick([null, 0, 2, 5]),
  };
}

function coreBugs(bugs: SimulationBugs): CoreBugs {
  const { forgetDisk: _forgetDisk, ...core } = bugs;
  return core;
}

export function describeScenario(scenario: Scenario): string {
  const bugs = Object.keys(scenario.bugs).filter((name) => scenario.bugs[name as keyof CoreBugs] === true);
  if (scenario.forgetDisk === true) bugs.push('forgetDisk');
  return [
    `family=${scenario.family}`,
    `nodes=${scenario.nodeCount}`, `spares=${scenario.spareNodeCount}`, `changes=${scenario.membershipChangeProbability}`, `loss=${scenario.lossProbability}`, `dup=${scenario.duplicateProbability}`,
    `delay≤${scenario.delayTicksMax}`, `partition=${scenario.partitionProbability}/≤${scenario.partitionTicksMax}t`,
    `crash=${scenario.crashProbability}/≤${scenario.downTicksMax}t`,
    `leaderCrashAfterAppend=${scenario.leaderCrashAfterAppendProbability}/≤${scenario.leaderCrashDelayTicksMax}t`,
    `ownTermAppendLoss=${scenario.ownTermAppendLossProbability}`,
    `transfer=${scenario.transferProbability}/stop=${scenario.gracefulStopShare}`, `propose=${scenario.proposeProbability}`,
    `read=${scenario.readProbability}`, `compact=${scenario.compactEveryEntries}/image≤${scenario.imageBuildTicksMax}t`, `heartbeat=${scenario.heartbeatTicks}`,
    `batch=${scenario.maxEntriesPerAppend}`, `inflight=${scenario.maxInflightAppends}`, `preVote=${scenario.preVote}`,
    `checkQuorum=${scenario.checkQuorum}`, `diskLoss=${scenario.diskLossShare}`, `torn=${scenario.tornWriteShare}`,
    `sync=${scenario.syncTicksMax === null ? 'inline' : `≤${scenario.syncTicksMax}t`}`,
    `pause=${scenario.pauseProbability}/≤${scenario.pauseTicksMax}t`, `misdeliver=${scenario.misdeliveryProbability}`, `bugs=${bugs.length === 0 ? 'none' : bugs.join(',')}`,
  ].join(' ');
}
