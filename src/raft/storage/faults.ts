// Disk-fault injection for tests: make the next write transaction, or the next off-thread fsync, fail as a full or
// failing disk would.
//
// The fault fires after every statement of the transaction has run and just before it commits, so a test sees
// the storage roll back real, partly done work rather than refuse up front.
import type { DiskFaultCode } from './errors.js';

export class StorageFaults {
  private pendingCodes: DiskFaultCode[] = [];
  private pendingSyncCodes: DiskFaultCode[] = [];

  /** The next write transaction fails with this code; calling it twice fails the next two. */
  failNextWrite(code: DiskFaultCode): void {
    this.pendingCodes.push(code);
  }

  /** Called by the storage once per write transaction, before it commits. */
  takeFault(): DiskFaultCode | null {
    return this.pendingCodes.shift() ?? null;
  }

  /** The next fsync of persistThen() fails with this code (after the fsync itself ran). */
  failNextSync(code: DiskFaultCode): void {
    this.pendingSyncCodes.push(code);
  }

  /** Called by the storage once per fsync of persistThen(). */
  takeSyncFault(): DiskFaultCode | null {
    return this.pendingSyncCodes.shift() ?? null;
  }

  get pendingCount(): number {
    return this.pendingCodes.length;
  }
}
