// What a leader knows about one follower's log, in the manner of etcd's tracker.Progress.
//
// probe: one append at a time, until the follower's match point is found (a reply or heartbeat reply unpauses it).
// replicate: optimistic nextIndex with up to maxInflightAppends appends in flight (pipelining).
// snapshot: an installSnapshot is on its way; appends wait for its acknowledgement.

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  state: ProgressState = 'probe';
  match = 0;
  next: number;
  /** In probe: an append is out and unanswered. */
  probeSent = false;
  /** In replicate: the last index of each append in flight, oldest first; bounded by maxInflightAppends. */
  readonly inflightLastIndices: number[] = [];
  /** In snapshot: the index of the snapshot sent. */
  pendingSnapshotIndex = 0;
  /** Heartbeat ticks since match last grew or a snapshot went out; used to resend what was lost. */
  ticksWithoutProgress = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;

  constructor(next: number, private readonly maxInflightAppends: number) {
    this.next = next;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightLastIndices.length >= this.maxInflightAppends;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflightLastIndices.length = 0;
    this.pendingSnapshotIndex = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflightLastIndices.length = 0;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshotIndex = snapshotIndex;
    this.inflightLastIndices.length = 0;
    this.ticksWithoutProgress = 0;
  }

  /** Records an acknowledged index; returns true when match grew. */
  acknowledge(index: number): boolean {
    while (this.inflightLastIndices.length > 0 && this.inflightLastIndices[0]! <= index) this.inflightLastIndices.shift();
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.ticksWithoutProgress = 0;
    return true;
  }

  /** Records that an append ending at `lastIndex` left (with entries). */
  sent(lastIndex: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflightLastIndices.push(lastIndex);
    } else {
      this.probeSent = true;
    }
  }
}
