// `pygmy check`: the end-to-end checker under faults (src/check/run.ts does the run, src/check/checkers.ts the
// judging). Flags: --duration S (30), --seed N (1), --clients C (6), --nemesis LIST (all kinds of the target;
// "none" for a run without faults), --history FILE (under the OS temp dir by default), --multihost (one
// `pygmy node` per network-namespace host; faults kill,stop,isolate,crash-host,partition; needs root and
// `ip netns`, else exits 2 with the reason), --ambiguous (go looking for orders of unknown outcome: impatient
// clients, a short order deadline, catalog outages, kills of the order leader, SIGSTOP pauses), --order-deadline-ms
// MS (the target's), --bug reject-without-fence (a planted bug the check must find), --replicas N (odd, 1–7: the
// size of both groups of the single-process target; faults, healing and the final digests follow the groups' live
// members), --recheck FILE (check a saved
// history again, no cluster), --export FILE (the history as plain JSON operations for Porcupine and the like).
// Prints each anomaly with the smallest part of the history that shows it, what could not be decided, how the
// orders of unknown outcome were resolved, and as its last line exactly `check: OPS ops, F faults, A anomalies`.
// Exits 1 on any anomaly, 2 on a usage error.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkHistory, describeAnomaly, unknownResolution, type CheckReport } from '../check/checkers.js';
import { readHistory, writeExport, type History } from '../check/history.js';
import { namespaceUnavailableReason } from '../check/hosts.js';
import { ambiguousNemesisKinds, multihostNemesisKinds, nemesisKinds, plantedBugs, runCheck, type NemesisKind, type PlantedBug } from '../check/run.js';
import { replicasProblem } from '../cluster/cluster.js';

function integer(value: string | undefined, name: string, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < minimum) throw new Error(`${name} must be an integer ≥ ${minimum}, got "${value}"`);
  return parsed;
}

function parseNemesis(value: string | undefined, multihost: boolean, ambiguous: boolean): NemesisKind[] {
  const known: readonly NemesisKind[] = multihost ? multihostNemesisKinds : nemesisKinds;
  if (value === undefined) return ambiguous ? [...ambiguousNemesisKinds] : [...known];
  if (value === 'none' || value === '') return [];
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(known as readonly string[]).includes(kind)) throw new Error(`--nemesis: unknown fault "${kind}"${multihost ? ' with --multihost' : ''} (known: ${known.join(', ')}, none)`);
  }
  return kinds as NemesisKind[];
}

function parseBug(value: string | undefined): PlantedBug | undefined {
  if (value === undefined) return undefined;
  if (!(plantedBugs as readonly string[]).includes(value)) throw new Error(`--bug: unknown bug "${value}" (known: ${plantedBugs.join(', ')})`);
  return value as PlantedBug;
}

const usage = [
  'usage: pygmy check [--duration 30] [--seed 1] [--clients 6] [--nemesis kill,stop,isolate,crash-process,catalog-outage,kill-order-leader,pause-process|none]',
  '                   [--ambiguous] [--order-deadline-ms MS] [--bug reject-without-fence] [--replicas 3] [--history FILE] [--export FILE]',
  '       pygmy check --recheck FILE [--export FILE]',
  '       pygmy check --multihost [--nemesis kill,stop,isolate,crash-host,partition|none] [other flags as above]',
];

/** Prints the verdict; the last line is exactly `check: OPS ops, F faults, A anomalies`. */
function report(history: History, checked: CheckReport, faults: number, extra: string[]): number {
  for (const anomaly of checked.anomalies) console.log(describeAnomaly(anomaly));
  for (const line of checked.undecided) console.log(`undecided: ${line}`);
  for (const line of extra) console.log(line);
  const unknown = unknownResolution(history);
  console.log(
    `unknown-outcome orders: ${unknown.unknown} (resolved by the final log: ${unknown.committed} committed, ${unknown.rejected} rejected, ` +
      `${unknown.absent} never taken, ${unknown.pending} still pending)`,
  );
  console.log(`check: ${checked.operationsChecked} ops, ${faults} faults, ${checked.anomalies.length} anomalies`);
  return checked.anomalies.length === 0 ? 0 : 1;
}

function recheck(path: string, exportPath: string | undefined): number {
  let history: History;
  try {
    history = readHistory(path);
  } catch (error) {
    console.error(`pygmy check: --recheck ${path}: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (exportPath !== undefined) writeExport(exportPath, history);
  console.log(`check: re-checking ${path} (${history.operations.length} operations, ${history.faults.length} faults)`);
  const extra = exportPath === undefined ? [] : [`export: ${exportPath}`];
  return report(history, checkHistory(history), history.faults.length, extra);
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
        ambiguous: { type: 'boolean' },
        'order-deadline-ms': { type: 'string' },
        bug: { type: 'string' },
        replicas: { type: 'string' },
        recheck: { type: 'string' },
        export: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`pygmy check: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (values.help) {
    for (const line of usage) console.log(line);
    return 0;
  }
  if (values.recheck !== undefined) return recheck(values.recheck, values.export);
  const multihost = values.multihost ?? false;
  const ambiguous = values.ambiguous ?? false;
  const unavailable = multihost ? namespaceUnavailableReason() : null;
  if (unavailable !== null) {
    console.error(`pygmy check: --multihost cannot run here: ${unavailable}`);
    return 2;
  }
  let durationMs: number, seed: number, clients: number, nemesis: NemesisKind[], plantedBug: PlantedBug | undefined, orderDeadlineMs: number | undefined;
  let replicas: number | undefined;
  try {
    durationMs = integer(values.duration, '--duration', 30, 1) * 1_000;
    seed = integer(values.seed, '--seed', 1, 0);
    clients = integer(values.clients, '--clients', 6, 1);
    nemesis = parseNemesis(values.nemesis, multihost, ambiguous);
    plantedBug = parseBug(values.bug);
    orderDeadlineMs = values['order-deadline-ms'] === undefined ? undefined : integer(values['order-deadline-ms'], '--order-deadline-ms', 0, 100);
    replicas = values.replicas === undefined ? undefined : integer(values.replicas, '--replicas', 3, 1);
    const replicasWrong = replicas === undefined ? null : replicasProblem(replicas);
    if (replicasWrong !== null) throw new Error(`--replicas: ${replicasWrong}`);
    if (multihost && (ambiguous || plantedBug !== undefined || replicas !== undefined)) throw new Error('--ambiguous, --bug and --replicas run against the single-process target only');
  } catch (error) {
    console.error(`pygmy check: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  const historyPath = values.history ?? join(tmpdir(), `pygmy-check-seed${seed}-${Date.now()}.jsonl`);
  const modes = [multihost ? 'multi-host' : '', ambiguous ? 'ambiguous' : '', plantedBug === undefined ? '' : `planted bug ${plantedBug}`].filter((mode) => mode !== '');
  console.log(`check: ${durationMs / 1000} s, seed ${seed}, ${clients} clients, nemesis ${nemesis.join(',') || 'none'}${modes.length > 0 ? `, ${modes.join(', ')}` : ''}`);
  const result = await runCheck({
    durationMs, seed, clients, nemesis, historyPath, multihost, ambiguous, log: (line) => console.log(line),
    ...(plantedBug === undefined ? {} : { plantedBug }),
    ...(orderDeadlineMs === undefined ? {} : { orderDeadlineMs }),
    ...(replicas === undefined ? {} : { replicas }),
  });
  if (values.export !== undefined) writeExport(values.export, result.history);
  const outcomes = { ok: 0, fail: 0, unknown: 0 };
  for (const operation of result.history.operations) outcomes[operation.outcome] += 1;
  const extra = [
    `history: ${historyPath} (${outcomes.ok} ok, ${outcomes.fail} failed, ${outcomes.unknown} unknown; ${result.report.statesExplored} search states)`,
    ...(values.export === undefined ? [] : [`export: ${values.export}`]),
    `longest write unavailability: ${result.writeUnavailableMsMax} ms`,
  ];
  return report(result.history, result.report, result.faults, extra);
}
