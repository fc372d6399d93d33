// A simulated scenario: everything one seed decides about a run, printed beside the seed so a run can be read
// and replayed. Drawn from the seed alone.
import type { RaftTestingBugs } from '../core/config.js';
import { SeededRandom } from './random.js';

export interface Scenario {
  readonly seed: number;
  readonly nodeCount: 3 | 5;
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
  readonly proposeProbability: number;
  readonly readProbability: number;
  /** The application snapshots and compacts once it applied this many entries past its last snapshot. */
  readonly compactEveryEntries: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxEntriesPerAppend: number;
  readonly maxInflightAppends: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly safetyTicks: number;
  readonly livenessTicksMax: number;
  readonly bugs: RaftTestingBugs;
}

/** Harsher draws (five nodes, one entry per append, frequent crashes) that make rare interleavings likely. */
export function harshScenario(seed: number, bugs: RaftTestingBugs = {}, safetyTicks = 1000): Scenario {
  const random = new SeededRandom(seed * 40503 + 7);
  return {
    ...randomScenario(seed, bugs, safetyTicks),
    nodeCount: 5,
    maxEntriesPerAppend: 1,
    crashProbability: random.pick([0.02, 0.05]),
    downTicksMax: random.pick([10, 40]),
    partitionProbability: random.pick([0.01, 0.03]),
    proposeProbability: 0.8,
  };
}

export function randomScenario(seed: number, bugs: RaftTestingBugs = {}, safetyTicks = 1000): Scenario {
  const random = new SeededRandom(seed * 2654435761);
  const protections = random.chance(0.8);
  return {
    seed,
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
    heartbeatTicks: random.pick([1, 2]),
    maxEntriesPerAppend: random.pick([1, 4, 64]),
    maxInflightAppends: random.pick([1, 4]),
    preVote: protections || random.chance(0.5),
    checkQuorum: protections || random.chance(0.5),
    safetyTicks,
    livenessTicksMax: 600,
    bugs,
  };
}

export function describeScenario(scenario: Scenario): string {
  const bugs = Object.keys(scenario.bugs).filter((name) => scenario.bugs[name as keyof RaftTestingBugs] === true);
  return [
    `nodes=${scenario.nodeCount}`, `loss=${scenario.lossProbability}`, `dup=${scenario.duplicateProbability}`,
    `delay≤${scenario.delayTicksMax}`, `partition=${scenario.partitionProbability}/≤${scenario.partitionTicksMax}t`,
    `crash=${scenario.crashProbability}/≤${scenario.downTicksMax}t`, `propose=${scenario.proposeProbability}`,
    `read=${scenario.readProbability}`, `compact=${scenario.compactEveryEntries}`, `heartbeat=${scenario.heartbeatTicks}`,
    `batch=${scenario.maxEntriesPerAppend}`, `inflight=${scenario.maxInflightAppends}`, `preVote=${scenario.preVote}`,
    `checkQuorum=${scenario.checkQuorum}`, `bugs=${bugs.length === 0 ? 'none' : bugs.join(',')}`,
  ].join(' ');
}
