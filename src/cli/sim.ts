// `pygmy sim`: runs the deterministic Raft simulator over many seeds.
//
// Options: --seeds N (default 100), --seed-start S (default 1), --seed S (one seed with a verbose trace),
// --bug NAME (switch on a deliberate bug: in the core voteTwice, commitPreviousTermByCounting,
// followerReadWithoutReadIndex, concurrentMembershipChanges; in the identity layer forgetDisk, which lets a replica that lost its disk vote), --ticks N (safety-phase ticks, default 1000), --family NAME (mixed, the default:
// every fourth seed is a figure8 seed, the others random; random; harsh: five nodes, one entry per append, frequent
// crashes and partitions; figure8: leaders crash soon after appending and own-term appends are lost more often, the
// shape of Figure 8 of the Raft paper; membership: the random family's faults plus membership changes), --harsh (the same as --family harsh).
// A violation prints the seed, the scenario, the last events and the command that replays it. The last line printed
// is exactly "sim: N seeds, V violations"; the exit code is 1 when any violation was found.
import { describeScenario, familyChoices, scenarioFor, type FamilyChoice, type SimulationBugs } from '../raft/sim/scenario.js';
import { runSimulation } from '../raft/sim/simulation.js';

const bugNames = ['voteTwice', 'commitPreviousTermByCounting', 'followerReadWithoutReadIndex', 'forgetDisk', 'concurrentMembershipChanges'] as const;

const usage =
  'usage: pygmy sim [--seeds 100] [--seed-start 1] [--seed S] [--ticks 1000] [--harsh]\n' +
  `                 [--family ${familyChoices.join('|')}] [--bug ${bugNames.join('|')}]`;

interface Options {
  seedStart: number;
  seedCount: number;
  verbose: boolean;
  bugs: SimulationBugs;
  safetyTicks: number;
  family: FamilyChoice;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { seedStart: 1, seedCount: 100, verbose: false, bugs: {}, safetyTicks: 1000, family: 'mixed' };
  for (let position = 0; position < argv.length; position += 1) {
    const flag = argv[position]!;
    const value = argv[position + 1] ?? '';
    if (value === '' && flag !== '--harsh') throw new Error(`sim: ${flag} needs a value`);
    position += 1;
    if (flag === '--harsh') {
      options.family = 'harsh';
      position -= 1;
    } else if (flag === '--family') {
      if (!(familyChoices as readonly string[]).includes(value)) throw new Error(`sim: unknown family "${value}" (known: ${familyChoices.join(', ')})`);
      options.family = value as FamilyChoice;
    } else if (flag === '--seeds') options.seedCount = parsePositive(flag, value);
    else if (flag === '--seed-start') options.seedStart = parsePositive(flag, value);
    else if (flag === '--ticks') options.safetyTicks = parsePositive(flag, value);
    else if (flag === '--seed') {
      options.seedStart = parsePositive(flag, value);
      options.seedCount = 1;
      options.verbose = true;
    } else if (flag === '--bug') {
      if (!(bugNames as readonly string[]).includes(value)) throw new Error(`sim: unknown bug "${value}" (known: ${bugNames.join(', ')})`);
      options.bugs = { ...options.bugs, [value]: true };
    } else throw new Error(`sim: unknown option ${flag}`);
  }
  return options;
}

function parsePositive(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1) throw new Error(`sim: ${flag} must be a positive integer, got "${value}"`);
  return number;
}

export interface SeedOutcome {
  readonly seed: number;
  readonly scenario: string;
  readonly violation: string | null;
  readonly trace: readonly string[];
}

/** Runs seeds [seedStart, seedStart + seedCount) and returns the ones that found a violation. */
export function runSeeds(seedStart: number, seedCount: number, bugs: SimulationBugs = {}, family: FamilyChoice = 'mixed', stopAtFirst = false): SeedOutcome[] {
  const failures: SeedOutcome[] = [];
  for (let seed = seedStart; seed < seedStart + seedCount; seed += 1) {
    const scenario = scenarioFor(seed, family, bugs);
    const result = runSimulation(scenario);
    if (result.violation === null) continue;
    failures.push({ seed, scenario: describeScenario(scenario), violation: result.violation, trace: result.trace });
    if (stopAtFirst) break;
  }
  return failures;
}

function replayCommand(seed: number, options: Options): string {
  const bugs = Object.keys(options.bugs).map((name) => ` --bug ${name}`).join('');
  const ticks = options.safetyTicks === 1000 ? '' : ` --ticks ${options.safetyTicks}`;
  const family = options.family === 'mixed' ? '' : ` --family ${options.family}`;
  return `npm run sim -- --seed ${seed}${bugs}${ticks}${family}`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return 0;
  }
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    console.error(`pygmy ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }
  let violations = 0;
  const startedMs = performance.now();
  for (let seed = options.seedStart; seed < options.seedStart + options.seedCount; seed += 1) {
    const scenario = scenarioFor(seed, options.family, options.bugs, options.safetyTicks);
    if (options.verbose) console.log(`seed ${seed}: ${describeScenario(scenario)}`);
    const result = runSimulation(scenario, options.verbose ? (line) => console.log(line) : null);
    if (result.violation === null) {
      if (options.verbose) {
        console.log(`seed ${seed}: ok after ${result.ticks} ticks, ${result.committed} entries applied, ${result.readsServed} reads served, `
          + `${result.handOversCompleted} of ${result.handOversStarted} hand-overs completed`);
      }
      continue;
    }
    violations += 1;
    console.log(`\nseed ${seed}: VIOLATION ${result.violation}\n  scenario: ${describeScenario(scenario)}`);
    if (!options.verbose) for (const line of result.trace) console.log(`  ${line}`);
    console.log(`  replay: ${replayCommand(seed, options)}`);
  }
  const elapsedMs = performance.now() - startedMs;
  if (!options.verbose) console.log(`${(elapsedMs / options.seedCount).toFixed(1)} ms per seed, ${(elapsedMs / 1000).toFixed(1)} s in all`);
  console.log(`sim: ${options.seedCount} seeds, ${violations} violations`);
  return violations === 0 ? 0 : 1;
}
