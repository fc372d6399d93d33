// The cost of process.nextTick after full garbage collections, with and without keepTickObjectShape() (not a
// test; see src/runtime/tick-shape.ts for the cause).
//
//   npm run build && node dist/bench/next-tick.js [--collections 8]
//
// Runs two fresh child processes (node --expose-gc). Each makes some ticks and a full collection, `collections`
// times, then times 300 rounds of 2,000 process.nextTick calls and prints the best ns per call. The child
// "kept" calls keepTickObjectShape() first; "plain" does not. With `--feedback` (and node --allow-natives-syntax)
// a child also prints V8's view of nextTick's feedback, which test/runtime/tick-shape.test.ts reads.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { keepTickObjectShape } from '../src/runtime/tick-shape.js';

type Mode = 'plain' | 'kept';

const noop = (): void => {};
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function child(mode: Mode, collections: number, feedback: boolean): Promise<void> {
  if (mode === 'kept') keepTickObjectShape();
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run the child with node --expose-gc');
  for (let cycle = 0; cycle < collections; cycle += 1) {
    for (let tick = 0; tick < 100; tick += 1) process.nextTick(noop);
    await turn();
    collect();
    await turn();
  }
  const round = (): void => {
    for (let call = 0; call < 2_000; call += 1) process.nextTick(noop);
  };
  let bestNs = Infinity;
  for (let rounds = 0; rounds < 300; rounds += 1) {
    const started = process.hrtime.bigint();
    round();
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - started) / 2_000);
    await turn();
  }
  console.log(`${mode}: ${bestNs.toFixed(1)} ns per process.nextTick after ${collections} full collections`);
  // V8's natives syntax cannot be written in TypeScript, so it is compiled at run time.
  if (feedback) new Function('f', '%DebugPrint(f)')(process.nextTick);
}

function runChild(mode: Mode, collections: number): number {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, ['--expose-gc', script, '--child', mode, '--collections', String(collections)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`the ${mode} child failed: ${result.stderr}`);
  process.stdout.write(result.stdout);
  const match = /: ([\d.]+) ns per/.exec(result.stdout);
  if (match === null) throw new Error(`no figure from the ${mode} child: ${result.stdout}`);
  return Number(match[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { child: { type: 'string' }, collections: { type: 'string' }, feedback: { type: 'boolean' } },
  });
  const collections = Number(values.collections ?? 8);
  if (values.child === 'plain' || values.child === 'kept') return child(values.child, collections, values.feedback ?? false);
  const plain = runChild('plain', collections);
  const kept = runChild('kept', collections);
  console.log(`kept / plain: ${(kept / plain).toFixed(2)}`);
}

await main();
