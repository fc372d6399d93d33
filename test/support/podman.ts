// podman for the container tests: running its commands with a deadline, saying why it cannot run here, and
// removing everything a test run made (containers, volumes, networks, images), also after a run that was killed.
//
// Every command runs with CONTAINERS_CONF pointing at a file this module writes (runc, cgroupfs, no default
// ulimits, file events), the settings podman needs on these machines, so the machine's own configuration is left
// alone. Everything a run makes carries its name, `pygmy-test-PID`: a later run removes what a dead run left.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const runPrefix = 'pygmy-test-';
const outputBytesMax = 4 * 1024 * 1024;

const configDirectory = join(tmpdir(), `pygmy-podman-${process.pid}`);
const configFile = join(configDirectory, 'containers.conf');

let configWritten = false;

function writeConfig(): void {
  if (!configWritten) {
    configWritten = true;
    process.once('exit', () => rmSync(configDirectory, { recursive: true, force: true }));
  }
  mkdirSync(configDirectory, { recursive: true });
  writeFileSync(configFile, '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n');
}

export function podmanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  writeConfig();
  return { ...process.env, CONTAINERS_CONF: configFile, ...extra };
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

/** Runs a command with a deadline (then SIGKILL); output beyond 4 MiB per stream is cut. */
export function run(command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<CommandResult> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: options.env ?? podmanEnvironment(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < outputBytesMax) stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < outputBytesMax) stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      stderr += error.message;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, durationMs: Date.now() - startedAt });
    });
  });
}

/** Like run, but a non-zero exit is an error carrying the command's output. */
export async function runChecked(command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const tail = (text: string) => text.split('\n').slice(-40).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n--- stdout\n${tail(result.stdout)}\n--- stderr\n${tail(result.stderr)}`);
  }
  return result;
}

/** Why the container tests cannot run here, or null when they can. */
export function podmanUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root (podman runs as root here, with runc and cgroupfs)';
  for (const tool of ['podman', 'podman-compose', 'dpkg', 'apt-cache', 'ldconfig']) {
    const probe = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (probe.status !== 0) return `${tool} not found (.ci/run installs podman, runc and podman-compose from Debian)`;
  }
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { encoding: 'utf8', env: podmanEnvironment(), timeout: 60_000 });
  if (info.status !== 0) return `podman info failed: ${(info.stderr ?? '').trim().split('\n').slice(-1)[0]}`;
  return null;
}

function lines(command: string, args: readonly string[]): string[] {
  const result = spawnSync(command, args, { encoding: 'utf8', env: podmanEnvironment(), timeout: 120_000 });
  return (result.stdout ?? '').split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
}

const quiet = (args: readonly string[]) => void spawnSync('podman', args, { encoding: 'utf8', env: podmanEnvironment(), timeout: 120_000 });

/** True while a process with this id exists (EPERM: it exists, owned by another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes everything of the run named `project` (a compose project `pygmy-test-PID`): its containers (stopped
 * first, twice, since a restart policy may bring one back in between), volumes, networks and the images tagged
 * with its name.
 */
export function removeRun(project: string): void {
  const label = `label=io.podman.compose.project=${project}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const containers = lines('podman', ['ps', '-a', '--filter', label, '--format', '{{.ID}}']);
    if (containers.length > 0) quiet(['rm', '-f', '-t', '2', ...containers]);
  }
  const volumes = lines('podman', ['volume', 'ls', '--filter', label, '--format', '{{.Name}}']);
  if (volumes.length > 0) quiet(['volume', 'rm', '-f', ...volumes]);
  const networks = lines('podman', ['network', 'ls', '--format', '{{.Name}}']).filter((name) => name.startsWith(`${project}_`));
  if (networks.length > 0) quiet(['network', 'rm', '-f', ...networks]);
  const images = lines('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}']).filter((name) => name.startsWith(`localhost/${project}-`));
  if (images.length > 0) quiet(['rmi', '-f', ...images]);
}

/** Removes what runs of this test left behind when their process died before cleaning up. */
export function removeDeadRuns(): string[] {
  const names = new Set<string>();
  for (const line of lines('podman', ['ps', '-a', '--format', '{{index .Labels "io.podman.compose.project"}}'])) names.add(line);
  for (const line of lines('podman', ['volume', 'ls', '--format', '{{.Name}}'])) names.add(line.split('_')[0] ?? '');
  for (const line of lines('podman', ['network', 'ls', '--format', '{{.Name}}'])) names.add(line.split('_')[0] ?? '');
  for (const line of lines('podman', ['images', '--format', '{{.Repository}}'])) names.add(/^localhost\/(pygmy-test-\d+)-/.exec(line)?.[1] ?? '');
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(name.startsWith(runPrefix) ? name.slice(runPrefix.length) : NaN);
    if (Number.isSafeInteger(pid) && pid > 0 && !alive(pid)) {
      removeRun(name);
      removed.push(name);
    }
  }
  return removed;
}

/** The containers of these names that exist now, with the compose project each belongs to ('' for none). */
export function existingContainers(names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of lines('podman', ['ps', '-a', '--format', '{{.Names}}\t{{index .Labels "io.podman.compose.project"}}'])) {
    const [name, project] = line.split('\t');
    if (name !== undefined && names.includes(name)) found.set(name, project ?? '');
  }
  return found;
}
