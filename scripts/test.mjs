#!/usr/bin/env node
// Runs every compiled uvu test file (dist/test/**/*.test.js) in its own Node process and sums uvu's totals.
//
// Why one process per file: a test file that leaks a worker, a timer, a socket or a child process keeps its
// process alive. The runner notices (the file printed its summary but did not exit within a grace period) and
// counts that as a failure, so "no handle outlives a test" is checked for every file, not hoped for.
//
// Usage: node scripts/test.mjs [substring ...]   (only files whose path contains one of the substrings)
// Environment: TEST_CONCURRENCY (default 2; test/containers runs alone at the end), TEST_FILE_TIMEOUT_MS (default 600000).
// The last line printed is exactly "N passed, N failed" (", N skipped" when any were skipped).

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);
const exitGraceMs = 5_000;
const filters = process.argv.slice(2);

function listTestFiles(directory) {
  const found = [];
  let names = [];
  try {
    names = readdirSync(directory);
  } catch {
    return found;
  }
  for (const name of names.sort()) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...listTestFiles(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const stripAnsi = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

function parseSummary(output) {
  const clean = stripAnsi(output);
  const total = /Total:\s+(\d+)/.exec(clean);
  const passed = /Passed:\s+(\d+)/.exec(clean);
  const skipped = /Skipped:\s+(\d+)/.exec(clean);
  if (!total || !passed) return null;
  return { total: Number(total[1]), passed: Number(passed[1]), skipped: skipped ? Number(skipped[1]) : 0 };
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let summarySeenAt = 0;
    let reason = '';
    const onData = (chunk) => {
      output += chunk.toString();
      if (!summarySeenAt && /Duration:/.test(stripAnsi(output))) summarySeenAt = Date.now();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (summarySeenAt && now - summarySeenAt > exitGraceMs) {
        reason = `did not exit within ${exitGraceMs} ms of finishing: a worker, timer, socket or child outlived the tests`;
        child.kill('SIGKILL');
      } else if (now - started > fileTimeoutMs) {
        reason = `timed out after ${fileTimeoutMs} ms`;
        child.kill('SIGKILL');
      }
    }, 250);
    child.on('close', (code, signal) => {
      clearInterval(watchdog);
      resolve({ file, output, code, signal, reason, durationMs: Date.now() - started });
    });
  });
}

const files = listTestFiles(testRoot).filter(
  (file) => filters.length === 0 || filters.some((filter) => relative(root, file).includes(filter)),
);
if (files.length === 0) {
  console.error(`no test files found under ${relative(root, testRoot)} (did the build run?)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

let passed = 0;
let failed = 0;
let skipped = 0;
// The container test builds an image (compiling better-sqlite3) and runs seven containers: minutes of both cores.
// It runs alone, after the others, so that no test whose margins come from ticks and deadlines shares the machine
// with it.
const runsAlone = (file) => relative(testRoot, file).startsWith('containers/');
const queue = files.filter((file) => !runsAlone(file));
const aloneQueue = files.filter(runsAlone);
async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const result = await runFile(file);
    const name = relative(root, file);
    const summary = parseSummary(result.output);
    let filePassed = summary?.passed ?? 0;
    // uvu's Total counts the tests that ran; skipped ones are apart from it (Skipped).
    let fileFailed = summary ? summary.total - summary.passed : 0;
    if (summary) skipped += summary.skipped;
    if (!summary && !result.reason) result.reason = `exited (code ${result.code}, signal ${result.signal}) without a uvu summary`;
    if (result.reason) fileFailed += 1;
    else if (result.code !== 0 && fileFailed === 0) {
      result.reason = `exited with code ${result.code}`;
      fileFailed += 1;
    }
    passed += filePassed;
    failed += fileFailed;
    const seconds = (result.durationMs / 1000).toFixed(1);
    const status = fileFailed === 0 ? 'ok  ' : 'FAIL';
    process.stdout.write(`${status} ${name} (${filePassed} passed, ${fileFailed} failed, ${seconds} s)\n`);
    if (fileFailed > 0 || process.env.TEST_VERBOSE) {
      process.stdout.write(result.output.replace(/^/gm, '     | ') + '\n');
      if (result.reason) process.stdout.write(`     | ${result.reason}\n`);
    }
  }
}
await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
queue.push(...aloneQueue);
await worker();
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
