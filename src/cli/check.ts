// `pygmy check`: the end-to-end checker under faults (src/check/run.ts does the run, src/check/checkers.ts the
// judging). Flags: --duration S (30), --seed N (1), --clients C (6), --nemesis kill,stop,isolate,crash-process
// (all; "none" for a run without faults), --history FILE (under the OS temp dir by default), --multihost (one
// `pygmy node` per network-namespace host; faults kill,stop,isolate,crash-host,partition; needs root and
// `ip netns`, else exits 2 with the reason).
// Prints each anomaly with the smallest part of the history that shows it, what could not be decided, and as its
// last line exactly `check: OPS ops, F faults, A anomalies`. Exits 1 on any anomaly, 2 on a usage error.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeAnomaly } from '../check/checkers.js';
import { namespaceUnavailableReason } from '../check/hosts.js';
import { multihostNemesisKinds, nemesisKinds, runCheck, type NemesisKind } from '../check/run.js';

function integer(value: string | undefined, name: string, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < minimum) throw new Error(`${name} must be an integer ≥ ${minimum}, got "${value}"`);
  return parsed;
}

function parseNemesis(value: string | undefined, multihost: boolean): NemesisKind[] {
  const known: readonly NemesisKind[] = multihost ? multihostNemesisKinds : nemesisKinds;
  if (value === undefined) return [...known];
  if (value === 'none' || value === '') return [];
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(known as readonly string[]).includes(kind)) throw new Error(`--nemesis: unknown fault "${kind}"${multihost ? ' with --multihost' : ''} (known: ${known.join(', ')}, none)`);
  }
  return kinds as NemesisKind[];
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        seed: { type: 'string' },
        clients: { type: 'string' },
        nemesis: { type: 'string' },
        history: { type: 'string' },
        multihost: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`pygmy check: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (values.help) {
    console.log('usage: pygmy check [--duration 30] [--seed 1] [--clients 6] [--nemesis kill,stop,isolate,crash-process|none] [--history FILE]');
    console.log('       pygmy check --multihost [--nemesis kill,stop,isolate,crash-host,partition|none] [other flags as above]');
    return 0;
  }
  const multihost = values.multihost ?? false;
  const unavailable = multihost ? namespaceUnavailableReason() : null;
  if (unavailable !== null) {
    console.error(`pygmy check: --multihost cannot run here: ${unavailable}`);
    return 2;
  }
  let durationMs: number, seed: number, clients: number, nemesis: NemesisKind[];
  try {
    durationMs = integer(values.duration, '--duration', 30, 1) * 1_000;
    seed = integer(values.seed, '--seed', 1, 0);
    clients = integer(values.clients, '--clients', 6, 1);
    nemesis = parseNemesis(values.nemesis, multihost);
  } catch (error) {
    console.error(`pygmy check: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  const historyPath = values.history ?? join(tmpdir(), `pygmy-check-seed${seed}-${Date.now()}.jsonl`);
  console.log(`check: ${durationMs / 1000} s, seed ${seed}, ${clients} clients, nemesis ${nemesis.join(',') || 'none'}${multihost ? ', multi-host' : ''}`);
  const result = await runCheck({ durationMs, seed, clients, nemesis, historyPath, multihost, log: (line) => console.log(line) });
  const { report } = result;
  for (const anomaly of report.anomalies) console.log(describeAnomaly(anomaly));
  for (const line of report.undecided) console.log(`undecided: ${line}`);
  const outcomes = { ok: 0, fail: 0, unknown: 0 };
  for (const operation of result.history.operations) outcomes[operation.outcome] += 1;
  console.log(`history: ${historyPath} (${outcomes.ok} ok, ${outcomes.fail} failed, ${outcomes.unknown} unknown; ${report.statesExplored} search states)`);
  console.log(`longest write unavailability: ${result.writeUnavailableMsMax} ms`);
  console.log(`check: ${report.operationsChecked} ops, ${result.faults} faults, ${report.anomalies.length} anomalies`);
  return report.anomalies.length === 0 ? 0 : 1;
}
