// The durable-write anchor of `pygmy bench`: a three-member etcd cluster on loopback, started from the `etcd`
// binary on PATH (Debian: `apt-get install etcd-server`), in a temp dir the caller owns.
//
// Owns: finding the binary, picking six free loopback ports, starting the members with etcd's defaults (every put
// is fsynced on a majority before it is answered, as a Pygmy order is), waiting until a leader answers, and
// stopping every member (SIGTERM, then SIGKILL after a deadline). Promises: `stop()` always resolves and leaves no
// member behind, also when the start fails part way; the load is sent to the leader's client URL, etcd at its best
// (a put to a follower is forwarded to the leader, one more hop), so the ratio order/etcd is never flattered.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { stopChild } from './stop-child.js';

export const etcdInstallHint = 'etcd is not on PATH: install it (Debian: apt-get install etcd-server) to compare orders with its durable puts';

const membersCount = 3;
const readyTimeoutMs = 30_000;
const readyPollMs = 200;
const stopTimeoutMs = 10_000;
const requestTimeoutMs = 2_000;
const outputTailBytesMax = 4_096;

export interface EtcdCluster {
  /** The client URL of the member that was leader when the cluster became ready. */
  readonly url: string;
  readonly leaderPid: number;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** The `etcd` binary on PATH, or null. */
export function findEtcd(path: string = process.env.PATH ?? ''): string | null {
  for (const directory of path.split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
}

function memberArguments(member: Member, members: readonly Member[], dataDir: string): string[] {
  return [
    '--name', member.name,
    '--data-dir', dataDir,
    '--listen-client-urls', member.clientUrl,
    '--advertise-client-urls', member.clientUrl,
    '--listen-peer-urls', member.peerUrl,
    '--initial-advertise-peer-urls', member.peerUrl,
    '--initial-cluster', members.map((other) => `${other.name}=${other.peerUrl}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', `pygmy-bench-${process.pid}`,
    '--logger', 'zap',
    '--log-level', 'error',
  ];
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown> | null> {
  try {
    const answer = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(requestTimeoutMs) });
    if (answer.status !== 200) return null;
    return (await answer.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The index of the current leader, once every member answers its status and one names a leader. */
async function leaderIndex(members: readonly Member[]): Promise<number | null> {
  const statuses = await Promise.all(members.map((member) => postJson(`${member.clientUrl}/v3/maintenance/status`, {})));
  if (statuses.some((status) => status === null)) return null;
  for (const [index, status] of statuses.entries()) {
    const header = status!.header as { member_id?: string } | undefined;
    if (header?.member_id !== undefined && header.member_id === status!.leader) return index;
  }
  return null;
}

function stopMember(child: ChildProcess): Promise<void> {
  return stopChild(child, stopTimeoutMs);
}

/** Starts three members under `root` and resolves once a leader answers; rejects (with every member stopped) if not within the deadline. */
export async function startEtcd(binary: string, root: string): Promise<EtcdCluster> {
  const ports = await Promise.all(Array.from({ length: membersCount * 2 }, freePort));
  const members: Member[] = Array.from({ length: membersCount }, (_value, index) => ({
    name: `etcd-${index + 1}`,
    clientUrl: `http://127.0.0.1:${ports[index * 2]}`,
    peerUrl: `http://127.0.0.1:${ports[index * 2 + 1]}`,
  }));
  const children: ChildProcess[] = [];
  const tails = members.map(() => '');
  const stop = async () => {
    await Promise.all(children.map(stopMember));
  };
  for (const [index, member] of members.entries()) {
    const dataDir = join(root, member.name);
    mkdirSync(dataDir, { recursive: true });
    const child = spawn(binary, memberArguments(member, members, dataDir), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => {
      tails[index] = (tails[index] + chunk.toString('utf8')).slice(-outputTailBytesMax);
    });
    children.push(child);
  }
  const deadline = performance.now() + readyTimeoutMs;
  while (performance.now() < deadline) {
    const exited = children.findIndex((child) => child.exitCode !== null || child.signalCode !== null);
    if (exited !== -1) {
      await stop();
      throw new Error(`${members[exited]!.name} exited before the cluster was ready:\n${tails[exited]}`);
    }
    const leader = await leaderIndex(members);
    if (leader !== null) return { url: members[leader]!.clientUrl, leaderPid: children[leader]!.pid!, pids: children.map((child) => child.pid!), stop };
    await new Promise((resolve) => setTimeout(resolve, readyPollMs));
  }
  await stop();
  throw new Error(`etcd had no leader within ${readyTimeoutMs} ms:\n${tails.join('\n')}`);
}
