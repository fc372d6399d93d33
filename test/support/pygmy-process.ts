// A real `pygmy start` process for end-to-end tests: a fresh data dir under the OS temp dir, a free port, and a
// clean stop (SIGTERM, then SIGKILL after a deadline) that removes the data dir. Also small HTTP helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const mainScript = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface PygmyProcess {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (standard output and error). */
  output(): string;
  /** SIGTERM and wait for exit; SIGKILL if it has not exited within the deadline. Resolves with the exit code. */
  stop(deadlineMs?: number): Promise<number | null>;
  /** SIGKILL now (a crash of the whole process), and wait for the exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly readyTimeoutMs?: number;
}

const living = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export function makeDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'pygmy-test-'));
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}

export async function startPygmy(options: StartOptions = {}): Promise<PygmyProcess> {
  const dataDir = options.dataDir ?? makeDataDir();
  const child = spawn(process.execPath, [mainScript, 'start', '--port', '0', '--data-dir', dataDir, ...(options.args ?? [])], {
    env: { ...process.env, LOG_LEVEL: process.env.PYGMY_TEST_LOG_LEVEL ?? 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  living.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    living.delete(child);
    resolve(code);
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pygmy start not ready in time; output:\n${output.slice(-4000)}`)), options.readyTimeoutMs ?? 30_000);
    const check = () => {
      const match = /pygmy: ready at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pygmy start exited with ${code} before it was ready; output:\n${output.slice(-4000)}`));
    });
  });
  return {
    url,
    dataDir,
    child,
    output: () => output,
    async stop(deadlineMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  json<T = any>(): T;
}

export async function http(method: string, url: string, options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const response = await fetch(url, {
    method,
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface ClusterView {
  actors: Array<{ name: string; group: string; alive: boolean; role: string | null; term: number | null; commitIndex: number | null; lastApplied: number | null; restarts: number }>;
  leaders: Record<string, string | null>;
}

export async function cluster(url: string): Promise<ClusterView> {
  const answer = await http('GET', `${url}/cluster`);
  if (answer.status !== 200) throw new Error(`/cluster answered ${answer.status}: ${answer.text}`);
  return answer.json().result as ClusterView;
}
