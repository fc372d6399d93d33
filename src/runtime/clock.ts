// The runtime's clock for deadlines and intervals: one monotonic time line shared by every thread of a process.
//
// Owns: monotonicNowMs. Promises: it never steps back, and never jumps when the wall clock is set (NTP, an
// operator), so an ask's deadline or a restart window is not cut short or stretched by a step; it reads the same
// time line on the main thread and in every worker thread, so an instant taken on one thread (the deadline an
// asker writes into an ask) can be compared on another (the worker that would answer it). It is not comparable
// across processes or hosts: over TCP an ask carries its time remaining (transport/codec.ts), never an instant.
// Needs: process.hrtime, which reads libuv's uv_hrtime (CLOCK_MONOTONIC on Linux): one clock for the whole
// process, whichever thread reads it. Its zero is arbitrary (boot, on Linux): never show it as a date.
//
// Why not performance.timeOrigin + performance.now(): on Node 20 (measured on 20.20) a worker thread reports the
// process's time origin, so the sum does agree across threads; but timeOrigin is a wall-clock reading and the Web
// specification gives each worker a time origin of its own (its creation), so the agreement rests on a detail of
// Node's implementation. process.hrtime is one clock by definition.

/** Milliseconds on the process's monotonic clock (fractional). */
export function monotonicNowMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1_000 + nanoseconds / 1_000_000;
}
