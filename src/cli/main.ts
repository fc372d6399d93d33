#!/usr/bin/env node
// The `pygmy` command: pygmy start | node | client | bench | sim | check | member, and `pygmy --help`, `pygmy --version`.
// Each subcommand lives in its own module with `main(argv): Promise<number>` returning the exit code.
import { readFileSync } from 'node:fs';
import { keepTickObjectShape } from '../runtime/tick-shape.js';
import { isUsageError } from './usage-error.js';

// First, before any full garbage collection can make process.nextTick slow for good (see tick-shape.ts).
keepTickObjectShape();

/** One line each, as `pygmy --help` prints them. */
const commands: Record<string, string> = {
  start: 'the whole cluster in one process: gateway on http://127.0.0.1:34800',
  node: 'this host\'s part of a multi-host cluster (--config cluster.json --node NAME)',
  client: 'the terminal shop: pygmy client [URL] [lookup ID | search TOPIC | list | buy ID [AMOUNT]]',
  bench: 'the autocannon load benchmark beside a bare node:http baseline',
  sim: 'deterministic simulation of the Raft core (--seeds N --seed-start S)',
  check: 'clients against a cluster under seeded faults, then checks of the history',
  backup: 'online backup of both groups: --gateway URL --out DIR; pygmy backup verify DIR',
  restore: 'a new cluster from a backup: --from DIR --data-dir D [--config cluster.json]',
  member: 'a group\'s membership: pygmy member list|add|remove --group catalog|order [NAME] [--gateway URL]',
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, what]) => `  pygmy ${name.padEnd(7)} ${what}`);
  return ['usage: pygmy COMMAND [OPTIONS]   (pygmy COMMAND --help for its options; pygmy --version)', ...lines].join('\n');
}

/** The version in package.json, which sits three folders up from dist/src/cli/main.js. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    return command === undefined ? 1 : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    console.log(`pygmy ${version()}`);
    return 0;
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
