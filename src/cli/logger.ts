// Pygmy's logger: pino, readable in a terminal and JSON everywhere else.
//
// Owns: the choice of format and level, and the pretty formatter. Promises: pretty output is one line per event,
// `12:02:43.516 INFO  catalog-3 became leader for term 3 with 2/3 votes`, then any extra fields as key=value;
// a line that cannot be parsed is passed through unchanged rather than lost. Defaults: pretty when stdout is a
// TTY, JSON otherwise; level from LOG_LEVEL, else "info" (`productionLogLevel`: state changes only, no line per
// request; the demo passes `demoLogLevel`, which adds them). The formatter is ours (no pino-pretty dependency):
// it is twenty lines, and the demo is the only place that reads it.

import pino, { type DestinationStream, type Logger } from 'pino';

export interface LoggerOptions {
  readonly pretty?: boolean;
  readonly level?: string;
  /** Bound to every line as `name` (for example "gateway"). */
  readonly name?: string;
  /** Where lines go; standard output by default. */
  readonly destination?: { write(text: string): unknown };
}

/** `pygmy node`'s default: elections, restarts, faults, overload episodes — never a line per request. */
export const productionLogLevel = 'info';
/** `pygmy start`'s default: also a line per request (a cache hit, an order, an invalidation), as the demo tells it. */
export const demoLogLevel = 'debug';

const levelLabels: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields pino writes on every line; the pretty format shows them in fixed places or not at all. */
const fixedFields = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

function twoDigits(value: number): string {
  return value < 10 ? '0' + value : String(value);
}

export function formatClock(epochMs: number): string {
  const date = new Date(epochMs);
  const milliseconds = String(date.getMilliseconds()).padStart(3, '0');
  return `${twoDigits(date.getHours())}:${twoDigits(date.getMinutes())}:${twoDigits(date.getSeconds())}.${milliseconds}`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (typeof value === 'object' && value !== null && 'stack' in value && typeof value.stack === 'string') {
    return '\n' + value.stack;
  }
  return JSON.stringify(value);
}

/** One pino JSON line → one readable line (with its newline). */
export function formatPrettyLine(jsonLine: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : jsonLine + '\n';
  }
  const time = typeof event.time === 'number' ? formatClock(event.time) : '--:--:--.---';
  const level = (levelLabels[Number(event.level)] ?? String(event.level)).padEnd(5);
  let line = `${time} ${level} ${typeof event.msg === 'string' ? event.msg : ''}`;
  for (const [key, value] of Object.entries(event)) {
    if (!fixedFields.has(key)) line += ` ${key}=${formatValue(value)}`;
  }
  if (typeof event.name === 'string') line += ` (${event.name})`;
  return line + '\n';
}

/** A pino destination that reformats each line before writing it on. */
export function prettyDestination(target: { write(text: string): unknown }): DestinationStream {
  return { write: (jsonLine: string) => void target.write(formatPrettyLine(jsonLine)) };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const level = options.level ?? process.env.LOG_LEVEL ?? productionLogLevel;
  // JSON to standard output goes through pino's own fast synchronous writer; pretty lines are for humans.
  const destination = pretty
    ? prettyDestination(options.destination ?? process.stdout)
    : ((options.destination as DestinationStream | undefined) ?? pino.destination(1));
  const loggerOptions: pino.LoggerOptions = { level, base: options.name === undefined ? null : { name: options.name } };
  return pino(loggerOptions, destination);
}
