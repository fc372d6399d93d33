#!/usr/bin/env node
// The `pygmy` command: pygmy start | node | client | bench | sim | check.
// Each subcommand lives in its own module with `main(argv): Promise<number>` returning the exit code.
import { keepTickObjectShape } from '../runtime/tick-shape.js';
import { isUsageError } from './usage-error.js';

// First, before any full garbage collection can make process.nextTick slow for good (see tick-shape.ts).
keepTickObjectShape();

const commands: Record<string, string> = {
  start: 'bring the whole cluster up in one process (the demo)',
  node: 'run this host\'s part of a multi-host cluster',
  client: 'the terminal shop: pygmy client URL [lookup ID | search TOPIC | list | buy ID [AMOUNT]]',
  bench: 'the autocannon load benchmark',
  sim: 'deterministic simulation of the Raft core: --seeds N --seed-start S',
  check: 'end-to-end checker under faults',
  backup: 'online backup of both groups: --gateway URL --out DIR; pygmy backup verify DIR',
  restore: 'a new cluster from a backup: --from DIR --data-dir D [--config cluster.json]',
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, what]) => `  pygmy ${name.padEnd(7)} ${what}`);
  return ['usage:', ...lines].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    console.log(usage());
    return command === undefined ? 1 : 0;
  }
  if (!Object.hasOwn(commands, command)) {
    console.error(`pygmy: unknown command "${command}"\n${usage()}`);
    return 1;
  }
  const module = (await import(`./${command}.js`)) as { main(argv: string[]): Promise<number> };
  return module.main(rest);
}

const argv = process.argv.slice(2);
run(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A usage mistake or a system error (a port in use, a file missing) is one line; anything else is a bug, and
    // its stack is what a report needs.
    const usageError = isUsageError(error);
    const systemError = typeof (error as { code?: unknown } | null)?.code === 'string' && typeof (error as { syscall?: unknown }).syscall === 'string';
    if (usageError || systemError) {
      console.error(`pygmy ${argv[0]}: ${(error as Error).message}${usageError ? ` (pygmy ${argv[0]} --help shows the usage)` : ''}`);
      process.exitCode = usageError ? 2 : 1;
      return;
    }
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  },
);
