// Scenario scripts (test/raft/scenarios/*.txt) run against the pure core through src/raft/sim/script.ts: each
// script's recorded output must match what the core produces now. REWRITE=1 writes the new output back instead
// (for a change of behaviour made on purpose; review the diff). Also checks that the runner can fail.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScript, ScriptError } from '../../src/raft/sim/script.js';

// Compiled to dist/test/raft/; the scripts stay in the source tree.
const scenarioDirectory = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'test', 'raft', 'scenarios');
const rewrite = process.env.REWRITE === '1';
const scriptNames = readdirSync(scenarioDirectory).filter((name) => name.endsWith('.txt')).sort();

test('the scenario directory holds scripts', () => {
  // Guards against a path mistake that would make every script test below vanish silently.
  assert.ok(scriptNames.length >= 8, `only ${scriptNames.length} scripts found in ${scenarioDirectory}`);
});

for (const name of scriptNames) {
  test(`scenario ${name}`, () => {
    // Runs the script and compares the whole text, expected output included, with what the core produced.
    const path = join(scenarioDirectory, name);
    const expected = readFileSync(path, 'utf8');
    const actual = runScript(expected);
    if (rewrite && actual !== expected) writeFileSync(path, actual);
    else assert.fixture(actual, expected);
    assert.ok(!actual.includes('\nerror: '), `${name} produced an error line`);
  });
}

test('the runner reports a changed output and a bad command, so a script can fail', () => {
  // Feeds a script whose recorded output is wrong and checks that the result differs from it; then an unknown
  // command and a command without its ---- line, which must throw ScriptError naming the line.
  const wrong = 'add-nodes 3\n----\nn1 leader term=9\n';
  assert.not.equal(runScript(wrong), wrong);
  assert.throws(() => runScript('add-nodes 3\n----\n\nfly n1\n----\n'), (error: unknown) => error instanceof ScriptError && /line 4/.test(String(error)));
  assert.throws(() => runScript('add-nodes 3\nstatus\n'), (error: unknown) => error instanceof ScriptError);
});

test('commit-rule.txt: the correct core never applies 2/1:a; with commitPreviousTermByCounting it does, and 2/2 later wins index 2', () => {
  // Reads the recorded output of the Figure 8 script in its two halves (correct core, then the deliberate bug) and
  // checks the property the script exists for, independently of the exact trace.
  const text = runScript(readFileSync(join(scenarioDirectory, 'commit-rule.txt'), 'utf8'));
  const [correct, buggy] = text.split('bugs=commitPreviousTermByCounting');
  assert.ok(correct !== undefined && buggy !== undefined, 'the script has both halves');
  assert.not.match(correct, /applied[^\n]* 2\/1:a/);
  assert.match(correct, /applied[^\n]* 2\/2:noop/);
  assert.match(buggy, /n1 applied[^\n]* 2\/1:a/);
  assert.match(buggy, /applied[^\n]* 2\/2:noop/);
});

test.run();
