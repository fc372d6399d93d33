// One log line per episode of a repeated event, not one per event.
//
// Why: some events happen once per request while something is wrong (a 503 answered, a replica failed over, work
// shed under overload). A line for each turns a flood of requests into a flood of log. Instead the first event
// after a quiet interval is written at once, and later ones within `intervalMs` of the last line are only counted;
// the next line written says how many were folded into it. So an episode costs at most one line per interval.
// Pure: the clock is the caller's `nowMs`.

export type EpisodeNote =
  | { readonly write: true; /** Events since the previous line that were not written. */ readonly foldedCount: number }
  | { readonly write: false };

const notWritten: EpisodeNote = { write: false };

export class EpisodeLog {
  private lastLineAtMs = Number.NEGATIVE_INFINITY;
  private folded = 0;

  constructor(readonly intervalMs: number) {
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) throw new Error(`log-episodes: intervalMs must be positive, got ${intervalMs}`);
  }

  /** Notes one event at `nowMs`; says whether to write its line, and how many events that line stands for. */
  note(nowMs: number): EpisodeNote {
    if (nowMs - this.lastLineAtMs < this.intervalMs) {
      this.folded += 1;
      return notWritten;
    }
    const foldedCount = this.folded;
    this.folded = 0;
    this.lastLineAtMs = nowMs;
    return { write: true, foldedCount };
  }
}

/** " (and N more like it since the last line)" when some were folded, else "". */
export function foldedSuffix(note: { readonly foldedCount: number }): string {
  return note.foldedCount === 0 ? '' : ` (and ${note.foldedCount} more like it since the last line)`;
}
