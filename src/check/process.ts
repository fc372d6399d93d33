// A real `pygmy start` child process for the checker and the suites that crash it: a data dir, a free port, a
// clean stop (SIGTERM, then SIGKILL after a deadline), a crash (SIGKILL), and HTTP helpers with deadlines.
// The checker restarts the process on the same data dir after a crash, so the data dir outlives the process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActorStatus, ClusterStatus } from '../http/backend.js';
import { tailOutput } from './output-tail.js';

const mainScript = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface PygmyProcess {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** The last part of what the process printed (standard output and error), bounded. */
  output(): string;
  /** SIGTERM and wait for the exit; SIGKILL past the deadline. Resolves with the exit code. */
  stop(deadlineMs?: number): Promise<number | null>;
  /** SIGKILL now (a crash of the whole process) and wait for the exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  readonly dataDir: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly readyTimeoutMs?: number;
}

const outputCharsMax = 200_000;
const living = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export function makeDataDir(prefix = 'pygmy-check-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}

export async function startPygmy(options: StartOptions): Promise<PygmyProcess> {
  const child = spawn(process.execPath, [mainScript, 'start', '--port', '0', '--data-dir', options.dataDir, ...(options.args ?? [])], {
    // The checked cluster is the checker's own, on loopback: an admin token exported in the operator's shell would
    // lock the checker out of /cluster and /admin, so it is not passed on (options.env may still set one).
    env: { ...process.env, PYGMY_ADMIN_TOKEN: undefined, LOG_LEVEL: process.env.PYGMY_CHECK_LOG_LEVEL ?? 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  living.add(child);
  const output = tailOutput(child, outputCharsMax);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    living.delete(child);
    resolve(code);
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pygmy start not ready in time; output:\n${output().slice(-4000)}`));
    }, options.readyTimeoutMs ?? 30_000);
    const check = () => {
      const match = /pygmy: ready at (http:\/\/\S+)/.exec(output());
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pygmy start exited with ${code} before it was ready; output:\n${output().slice(-4000)}`));
    });
  });
  return {
    url,
    dataDir: options.dataDir,
    child,
    output,
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
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
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

/** One actor as GET /cluster reports it. */
export type ClusterActor = ActorStatus;

/** What GET /cluster answers. */
export type ClusterView = ClusterStatus;

export async function clusterView(url: string, headers: Readonly<Record<string, string>> = {}): Promise<ClusterView> {
  const answer = await http('GET', `${url}/cluster`, { timeoutMs: 5_000, headers: { ...headers } });
  if (answer.status !== 200) throw new Error(`/cluster answered ${answer.status}: ${answer.text}`);
  return answer.json().result as ClusterView;
}
