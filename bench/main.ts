// `pygmy bench`: the autocannon load benchmark beside a bare node:http baseline. The benchmark itself lives in
// bench/ (scenarios, servers, report); this is its entry point. Flags: see bench/run.ts or `pygmy bench --help`.
import { parseSettings, runBench } from './run.js';
import { scenarioNames } from './scenarios.js';

const usage =
  'usage: pygmy bench [--quick] [--scenario NAME]... [--connections 64] [--duration SECONDS] [--settle SECONDS] [--out FILE.json] [--record] [--server-flags "FLAGS"] [--orders N [--start-only] (scale)]\n' +
  `scenarios: ${scenarioNames.join(', ')} (scrape and overload not with --quick unless named)`;

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return 0;
  }
  let settings;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    console.error(`pygmy bench: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 1;
  }
  return runBench(settings);
}
