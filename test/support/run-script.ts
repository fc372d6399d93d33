// Runs a Node script in a child process (by default the built `pygmy` CLI) and collects what it prints.
// Promises: the child is killed (SIGKILL) once `timeoutMs` has passed, so a test never waits on a hung child, and
// the answer says whether it was; stdout and stderr come apart and, in `output`, together in arrival order.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, dist/src/cli/main.js. */
export const pygmyMain = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together, as they arrived. */
  readonly output: string;
  /** True when the child outlived timeoutMs and was killed. */
  readonly killed: boolean;
}

export interface ScriptOptions {
  /** The child's whole environment; process.env when absent. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

export const scriptTimeoutMsDefault = 20_000;

export function runScript(script: string, args: readonly string[], options: ScriptOptions = {}): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? scriptTimeoutMsDefault);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, output, killed });
    });
  });
}

/** `pygmy ...args` from the built CLI. */
export function runPygmy(args: readonly string[], options: ScriptOptions = {}): Promise<ScriptRun> {
  return runScript(pygmyMain, args, options);
}
