// Simulated storage for the driver: the production storage's contract (storage/storage.ts) on an in-memory disk
// that can lose what production can lose, for the simulator and the scenario scripts.
//
// Owns: one replica's simulated disk (log, hard state, snapshot record, lastApplied, the application's state — here
// a hash of what was applied —, identity and peer pins) and its crash semantics:
// - a synced write (entries, term, vote, snapshots, identity, pins) is durable when it returns;
// - with syncLater (the production storage's persistThen), entries, term and vote are a deferred write until their
//   fsync completes, at most one at a time: a crash before then keeps them only with a prefix that reaches them;
// - a deferred write (applying entries, a hard state that only moves the commit index, a compaction) is durable
//   once a later synced write returns, in write order, as in SQLite's WAL; a crash keeps a prefix of the deferred
//   writes since the last synced one, chosen by the simulator, and loses the rest;
// - a torn last write: the crash hit a synced write as it went out, and its entries above the durable commit index
//   are gone on restart (production's recovery drops a damaged tail above the commit index the same way);
// - the whole disk can be lost (a new SimDisk), or the database alone while its member marker stays.
// Crash points are injected here: a write throws SimulatedCrash at the stage the simulator chose, which takes the
// replica down exactly where a failing disk would.
// Needs: an applier for the application's state (the simulator hashes; scripts just count).
import type { AppliedResult, BuiltImage, DriverStorage, PersistPart } from '../driver.js';
import type { IdentityStore, MarkerContents, MemberMarker, StoredIdentity } from '../identity.js';
import type { Entry, HardState, NodeId, PersistedState, SnapshotMeta } from '../types.js';

export class SimulatedCrash extends Error {
  constructor(readonly owner: NodeId, readonly stage: CrashStage) {
    super(`simulated crash of ${owner} (${stage})`);
    this.name = 'SimulatedCrash';
  }
}

/** Where the next write crashes the replica. */
export type CrashStage = 'beforePersist' | 'beforeSend' | 'tornPersist' | 'beforeApply';

/** The application's state, as the simulated disk keeps it: a value that applying entries moves. */
export interface SimApplier {
  /** The state after applying `entry` to `state`, and the entry's result. */
  apply(state: number, entry: Entry): { readonly state: number; readonly result: unknown };
  /** The state an image carries (`data`), as restored from it. */
  restore(data: string): number;
  image(state: number, lastApplied: number): string;
  query(state: number, lastApplied: number, query: unknown): unknown;
}

interface UnsyncedWrite {
  readonly entriesBefore: Entry[];
  readonly hardStateBefore: HardState;
  /** Its index in `deferred`. */
  readonly position: number;
}

/** What survives of the application's side of the disk after each write. */
interface Volatile {
  readonly commit: number;
  readonly lastApplied: number;
  readonly state: number;
  readonly snapshot: SnapshotMeta | null;
}

/** One replica's simulated disk. Survives crashes of the replica; lost only as a whole (or the database alone). */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  /** Entries after the durable snapshot record (some may be compacted by a deferred write not yet durable). */
  entries: Entry[] = [];
  live: Volatile = { commit: 0, lastApplied: 0, state: 0, snapshot: null };
  /** The volatile fields as of the last synced write, and after each deferred write since. */
  durable: Volatile = this.live;
  deferred: Volatile[] = [];
  /** Entries of the last synced write above the commit then: lost if that write is torn. */
  lastSyncedEntriesFrom: number | null = null;
  /**
   * The write of persistThen whose fsync has not returned (at most one: the driver waits for it): what the disk
   * held before it, and its place among the deferred writes. A crash that keeps no more than that many deferred
   * writes loses it, and everything after it (WAL order).
   */
  unsynced: UnsyncedWrite | null = null;
  identity: StoredIdentity | null = null;
  pins = new Map<NodeId, string>();
  marker: MarkerContents | null = null;

  /**
   * The replica went down: keep `keptDeferred` of the deferred writes since the last synced one (clamped), and if
   * `torn`, drop the last synced write's entries above its commit index.
   */
  crash(keptDeferred: number, torn: boolean): void {
    const kept = Math.max(0, Math.min(keptDeferred, this.deferred.length));
    const survived = kept === 0 ? this.durable : this.deferred[kept - 1]!;
    const unsynced = this.unsynced;
    this.unsynced = null;
    if (unsynced !== null && kept <= unsynced.position) {
      this.entries = unsynced.entriesBefore;
      this.hardState = unsynced.hardStateBefore;
    }
    this.deferred = [];
    this.durable = survived;
    this.live = survived;
    this.hardState = { ...this.hardState, commit: survived.commit };
    if (torn && this.lastSyncedEntriesFrom !== null) {
      const from = Math.max(this.lastSyncedEntriesFrom, survived.commit + 1, survived.lastApplied + 1);
      this.entries = this.entries.filter((entry) => entry.index < from);
    }
    this.lastSyncedEntriesFrom = null;
    this.compactPhysically();
  }

  /** The database file is deleted; the member marker beside it stays. */
  loseDatabase(): void {
    const marker = this.marker;
    Object.assign(this, new SimDisk());
    this.marker = marker;
  }

  /** Drops the entries a durable compaction covers. */
  compactPhysically(): void {
    const snapshotIndex = this.durable.snapshot?.index ?? 0;
    if (this.entries.length > 0 && this.entries[0]!.index <= snapshotIndex) {
      this.entries = this.entries.filter((entry) => entry.index > snapshotIndex);
    }
  }
}

export class SimMarker implements MemberMarker {
  constructor(private readonly disk: SimDisk) {}
  read(): MarkerContents | null {
    return this.disk.marker;
  }
  write(contents: MarkerContents): void {
    this.disk.marker = contents;
  }
}

/** What the simulator's checks hear from the disk: each applied entry and each restored image, with the state. */
export interface SimStorageObserver {
  applied?(entry: Entry, state: number): void;
  restored?(index: number, state: number): void;
}

export interface SimSyncOptions {
  /** Runs `complete` when the fsync returns, later by the simulator's clock. */
  readonly later: (complete: () => void) => void;
  /**
   * A deliberate bug, to prove the simulator's commit-quorum check can fail: the fsync is reported done while the
   * disk still holds the write unsynced (it becomes durable only when the next write begins).
   */
  readonly reportedEarly?: boolean;
}

export class SimStorage implements DriverStorage, IdentityStore {
  /** Set by the simulator: the next write that reaches this stage throws SimulatedCrash. */
  crashAt: CrashStage | null = null;
  fsyncs = 0;

  /** Set when the simulator fsyncs off the thread (scenario.syncTicksMax): persistThen, as production's storage. */
  readonly persistThen?: (part: PersistPart, durable: (error: Error | null) => void) => boolean;

  private readonly syncReportedEarly: boolean;

  /** `sync`: runs the end of an fsync later (the simulator's clock); without it, every write syncs inline. */
  constructor(
    readonly owner: NodeId,
    readonly disk: SimDisk,
    private readonly applier: SimApplier,
    private readonly observer: SimStorageObserver = {},
    sync?: SimSyncOptions,
  ) {
    this.syncReportedEarly = sync?.reportedEarly === true;
    if (sync !== undefined) this.persistThen = (part, durable) => this.writeUnsynced(part, durable, sync.later);
  }

  /** What a restarting node reads back. */
  load(): { readonly persisted: PersistedState; readonly lastApplied: number } {
    const disk = this.disk;
    const snapshot = disk.live.snapshot;
    const snapshotIndex = snapshot?.index ?? 0;
    return {
      persisted: { hardState: disk.hardState, snapshot, entries: disk.entries.filter((entry) => entry.index > snapshotIndex) },
      lastApplied: disk.live.lastApplied,
    };
  }

  get hardState(): HardState {
    return this.disk.hardState;
  }

  get lastApplied(): number {
    return this.disk.live.lastApplied;
  }

  get state(): number {
    return this.disk.live.state;
  }

  persist(part: PersistPart): void {
    const { snapshot, entries, hardState } = part;
    if (snapshot === null && entries.length === 0 && hardState === null) return;
    if (this.onlyCommitMoves(part)) {
      this.crashIf('beforePersist');
      this.deferredWrite({ ...this.disk.live, commit: hardState!.commit });
      this.disk.hardState = hardState!;
      return;
    }
    this.crashIf('beforePersist');
    this.sync();
    const disk = this.disk;
    if (snapshot !== null) {
      disk.entries = [];
      disk.live = { commit: disk.live.commit, lastApplied: snapshot.meta.index, state: this.applier.restore(snapshot.data), snapshot: snapshot.meta };
      this.observer.restored?.(snapshot.meta.index, disk.live.state);
    }
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (disk.entries.length > 0 && disk.entries[disk.entries.length - 1]!.index >= first) {
        disk.entries = disk.entries.filter((entry) => entry.index < first);
      }
      for (const entry of entries) disk.entries.push(entry);
    }
    if (hardState !== null) disk.hardState = hardState;
    disk.live = { ...disk.live, commit: disk.hardState.commit };
    disk.durable = disk.live;
    disk.lastSyncedEntriesFrom = entries.length > 0 ? entries[0]!.index : null;
    if (entries.length > 0 && this.crashAt === 'tornPersist') this.crash('tornPersist');
    this.crashIf('beforeSend');
  }

  /** persistThen: entries and hard state written now (a deferred write), durable when the fsync completes. */
  private writeUnsynced(part: PersistPart, durable: (error: Error | null) => void, syncLater: (complete: () => void) => void): boolean {
    const { snapshot, entries, hardState } = part;
    if (snapshot !== null || (entries.length === 0 && hardState === null) || this.onlyCommitMoves(part)) {
      this.persist(part);
      return false;
    }
    const disk = this.disk;
    if (disk.unsynced !== null && !this.syncReportedEarly) throw new Error(`sim storage: ${this.owner} wrote again before the previous write was synced`);
    if (disk.unsynced !== null) this.markSynced(disk.unsynced);
    this.crashIf('beforePersist');
    const write: UnsyncedWrite = { entriesBefore: disk.entries, hardStateBefore: disk.hardState, position: disk.deferred.length };
    if (entries.length > 0) {
      const first = entries[0]!.index;
      // A new array: the one before this write is kept, for a crash that loses the write.
      disk.entries = [...disk.entries.filter((entry) => entry.index < first), ...entries];
    }
    if (hardState !== null) disk.hardState = hardState;
    this.deferredWrite({ ...disk.live, commit: disk.hardState.commit });
    disk.unsynced = write;
    syncLater(() => this.completeSync(write, entries, durable));
    return true;
  }

  /** The fsync returned: the write and every deferred write before it are durable; then crash points, as persist(). */
  private completeSync(write: UnsyncedWrite, entries: readonly Entry[], durable: (error: Error | null) => void): void {
    const disk = this.disk;
    this.fsyncs += 1;
    if (!this.syncReportedEarly) this.markSynced(write);
    disk.lastSyncedEntriesFrom = entries.length > 0 ? entries[0]!.index : null;
    if (entries.length > 0 && this.crashAt === 'tornPersist') this.crash('tornPersist');
    this.crashIf('beforeSend');
    durable(null);
  }

  /** The write and every deferred write before it are durable (unless a synced write in between made them so). */
  private markSynced(write: UnsyncedWrite): void {
    const disk = this.disk;
    if (disk.unsynced !== write) return;
    disk.durable = disk.deferred[write.position]!;
    disk.deferred = disk.deferred.slice(write.position + 1);
    disk.unsynced = null;
    disk.compactPhysically();
  }

  apply(entries: readonly Entry[]): AppliedResult[] {
    if (entries.length === 0) return [];
    this.crashIf('beforeApply');
    return this.applyEntries(entries, this.disk.live.commit);
  }

  persistCommitAndApply(part: PersistPart, entries: readonly Entry[]): AppliedResult[] | null {
    if (entries.length === 0 || !this.onlyCommitMoves(part)) return null;
    this.crashIf('beforePersist');
    this.disk.hardState = part.hardState!;
    return this.applyEntries(entries, part.hardState!.commit);
  }

  compact(index: number, peers: readonly NodeId[], learners: readonly NodeId[] = [], configIndex = index): void {
    const live = this.disk.live;
    const snapshotIndex = live.snapshot?.index ?? 0;
    if (index <= snapshotIndex || index > live.lastApplied) throw new Error(`sim storage: compaction at ${index} out of range (${snapshotIndex}, ${live.lastApplied}]`);
    this.deferredWrite({ ...live, snapshot: { index, term: this.termAt(index), peers: [...peers], learners: [...learners], configIndex } });
  }

  image(): BuiltImage {
    const live = this.disk.live;
    return { index: live.lastApplied, term: this.termAt(live.lastApplied), data: this.applier.image(live.state, live.lastApplied) };
  }

  query(query: unknown): unknown {
    return this.applier.query(this.disk.live.state, this.disk.live.lastApplied, query);
  }

  termAt(index: number): number {
    if (index === 0) return 0;
    const snapshot = this.disk.live.snapshot;
    if (snapshot !== null && snapshot.index === index) return snapshot.term;
    const entries = this.disk.entries;
    const first = entries[0];
    const entry = first === undefined ? undefined : entries[index - first.index];
    if (entry === undefined || entry.index !== index) throw new Error(`sim storage: no term at index ${index}`);
    return entry.term;
  }

  // ---- identity ---------------------------------------------------------------------------------------------------

  isEmpty(): boolean {
    const disk = this.disk;
    return disk.hardState.term === 0 && disk.hardState.vote === null && disk.entries.length === 0 && disk.live.snapshot === null && disk.live.lastApplied === 0;
  }

  identity(): StoredIdentity | null {
    return this.disk.identity;
  }

  recordIdentity(identity: StoredIdentity): void {
    this.sync();
    this.disk.identity = identity;
  }

  recordNonVoter(): void {
    this.sync();
    this.disk.identity = { ...this.disk.identity!, voter: false };
  }

  peerReplicas(): Map<NodeId, string> {
    return new Map(this.disk.pins);
  }

  pinPeerReplica(peer: NodeId, replicaId: string): void {
    this.sync();
    if (!this.disk.pins.has(peer)) this.disk.pins.set(peer, replicaId);
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private applyEntries(entries: readonly Entry[], commit: number): AppliedResult[] {
    const live = this.disk.live;
    if (entries[0]!.index !== live.lastApplied + 1) throw new Error(`sim storage: applying ${entries[0]!.index} after ${live.lastApplied}`);
    let state = live.state;
    const results: AppliedResult[] = [];
    for (const entry of entries) {
      if (entry.index > commit) throw new Error(`sim storage: applying ${entry.index} beyond the commit ${commit}`);
      if (entry.type === 'normal') {
        const applied = this.applier.apply(state, entry);
        state = applied.state;
        results.push({ index: entry.index, result: applied.result });
      } else {
        results.push({ index: entry.index, result: null });
      }
      this.observer.applied?.(entry, state);
    }
    this.deferredWrite({ ...live, commit: Math.max(live.commit, commit), lastApplied: entries[entries.length - 1]!.index, state });
    return results;
  }

  private onlyCommitMoves(part: PersistPart): boolean {
    const { snapshot, entries, hardState } = part;
    if (snapshot !== null || entries.length > 0 || hardState === null) return false;
    return hardState.term === this.disk.hardState.term && hardState.vote === this.disk.hardState.vote;
  }

  /** A deferred write: visible now, durable with the next synced one. */
  private deferredWrite(next: Volatile): void {
    this.disk.live = next;
    this.disk.deferred.push(next);
  }

  /** A synced write makes every deferred write before it durable (WAL order). */
  private sync(): void {
    const disk = this.disk;
    this.fsyncs += 1;
    disk.durable = disk.live;
    disk.deferred = [];
    disk.unsynced = null;
    disk.compactPhysically();
  }

  private crashIf(stage: CrashStage): void {
    if (this.crashAt === stage) this.crash(stage);
  }

  private crash(stage: CrashStage): never {
    this.crashAt = null;
    throw new SimulatedCrash(this.owner, stage);
  }
}
