// The cluster a check runs against, as the run sees it: a gateway URL, the faults only this kind of cluster can
// inject (a crash of the whole process, a crash of one host, a partition of one host), healing them, and the
// final replica digests. Two kinds: one `pygmy start` process (run.ts) and `pygmy node` processes on
// network-namespace hosts (multihost-target.ts). Faults through the admin routes (kill, stop, isolate an actor)
// work the same on both and live in run.ts.
import { join } from 'node:path';
import initialCatalog from '../actors/catalog/initial.js';
import { CatalogStateMachine } from '../actors/catalog/state.js';
import { OrderStateMachine } from '../actors/order/state.js';
import type { SeededRandom } from '../raft/sim/random.js';
import type { StateMachine } from '../raft/state-machine.js';
import { RaftStorage } from '../raft/storage/storage.js';
import type { FinalState } from './history.js';

/**
 * Through the admin routes: one actor killed, stopped or isolated; two catalog replicas stopped together (no
 * quorum: deducts wait, orders race their deadline); the order leader killed (with the target's window between
 * deduct and commit widened, often right there).
 */
export const adminFaultKinds = ['kill', 'stop', 'isolate', 'catalog-outage', 'kill-order-leader'] as const;
export type AdminFaultKind = (typeof adminFaultKinds)[number];
/** `pause-process`: SIGSTOP of the whole process, SIGCONT after the hold (every timer and socket frozen). */
export const hostFaultKinds = ['crash-process', 'crash-host', 'partition', 'pause-process'] as const;
export type HostFaultKind = (typeof hostFaultKinds)[number];
export type NemesisKind = AdminFaultKind | HostFaultKind;

/** The bootstrap members of a default cluster; a run asks the gateway for the live ones (liveGroups). */
export const replicaGroups = { catalog: ['catalog-1', 'catalog-2', 'catalog-3'], order: ['order-1', 'order-2', 'order-3'] } as const;
export const actorNames = [...replicaGroups.catalog, ...replicaGroups.order, 'cache'] as const;

/** Each group's members, voters and learners. */
export interface ReplicaGroups {
  readonly catalog: readonly string[];
  readonly order: readonly string[];
}

export interface CheckTarget {
  /** The gateway's URL (may change when the process behind it restarts: read it for every request). */
  readonly url: string;
  /** Every gateway clients are spread over, `url` first (two in a multi-host run). */
  readonly gatewayUrls: readonly string[];
  /** Sent with every request: admin routes need a token when the gateway listens beyond loopback. */
  readonly headers: Readonly<Record<string, string>>;
  /** Resolves once the gateway at `url` (default: `url`) may be tried: at once, unless that gateway's own process is
   * restarting. A client of another gateway does not wait for it. */
  reachable(url?: string): Promise<void>;
  /** Injects one fault, holds it about `holdMs`, undoes it; `record` names it as it begins. */
  injectHostFault(kind: HostFaultKind, random: SeededRandom, holdMs: number, record: (what: string) => void): Promise<void>;
  /** Undoes any host fault still in place (cut links, processes down). */
  healHosts(): Promise<void>;
  /** Kills every process (with the cluster quiet the files hold what it applied) and digests each replica. */
  killAndDigest(groups: ReplicaGroups): Promise<FinalState['digests']>;
  /** Releases processes, data and hosts; safe after a failure and safe twice. */
  close(): Promise<void>;
}

/** Opens each replica's database (the process is gone) and asks its state machine for the digest. */
export function readDigests(dataDirOf: (replica: string) => string, groups: ReplicaGroups = replicaGroups): FinalState['digests'] {
  const digests: Array<FinalState['digests'][number]> = [];
  for (const [group, members] of Object.entries(groups)) {
    for (const name of members) {
      const stateMachine: StateMachine = group === 'catalog' ? new CatalogStateMachine(initialCatalog) : new OrderStateMachine();
      const storage = RaftStorage.open({ path: join(dataDirOf(name), `${name}.db`), stateMachine });
      try {
        digests.push({ group, name, index: storage.lastApplied, hash: storage.stateHash() });
      } finally {
        storage.close();
      }
    }
  }
  return digests;
}
