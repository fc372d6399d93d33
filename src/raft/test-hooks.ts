// Hooks that tests inject into a replica at construction; absent in production, where no caller sets them.
//
// A replica runs in a thread of its own, and its args reach it structured-cloned, so a hook crosses as data (the
// spec) and is built into its implementation inside the replica's thread (replicaTestHooks). The replica's own
// wire protocol (replica.ts) knows none of them: it hands a message it does not know to the hooks, which answer
// it only when they were asked for.
// Owns: the disk-fault hook — `{type:'injectDiskFault', code}` makes the next disk write fail as a failing disk
// would (storage/faults.ts), answered true, or false by a replica started without the hook.
// Needs: nothing but the storage's fault injector.
import { StorageFaults } from './storage/faults.js';

/** What a test asks of a replica at construction (carried in the replica's args). */
export interface ReplicaTestHooksSpec {
  /** Accept {type:'injectDiskFault', code}: the next disk write fails with that code. */
  readonly diskFaults?: boolean;
}

export type TestHookMessage = { readonly type: 'injectDiskFault'; readonly code: 'EIO' | 'ENOSPC' };

/** The hooks of one replica, built in its thread from the spec. */
export interface ReplicaTestHooks {
  /** Given to the storage: the writes it fails on purpose; null without the disk-fault hook. */
  readonly storageFaults: StorageFaults | null;
  /** The answer to a hook's message: false when the hook it needs was not asked for. */
  receive(message: TestHookMessage): boolean;
}

/** Production's hooks: none of them on. */
export const noTestHooks: ReplicaTestHooks = { storageFaults: null, receive: () => false };

export function replicaTestHooks(spec: ReplicaTestHooksSpec | undefined): ReplicaTestHooks {
  if (spec?.diskFaults !== true) return noTestHooks;
  const storageFaults = new StorageFaults();
  return {
    storageFaults,
    receive(message) {
      storageFaults.failNextWrite(message.code);
      return true;
    },
  };
}

/** A hook's message, checked as it arrives from the wire. */
export function isTestHookMessage(message: unknown): message is TestHookMessage {
  if (typeof message !== 'object' || message === null) return false;
  const { type, code } = message as { type?: unknown; code?: unknown };
  return type === 'injectDiskFault' && (code === 'EIO' || code === 'ENOSPC');
}
