// `pygmy client [URL] [COMMAND ...]` — the terminal shop. URL defaults to http://127.0.0.1:34800, the gateway's
// default address, so `pygmy client lookup 3` works against `pygmy start` as it comes.
//
// Without a command it is interactive: a prompt that reads `search TOPIC`, `list`, `lookup ID`, `buy ID [AMOUNT]`,
// `order ORDER_ID`, `help` and `quit`, and prints answers as sentences and small tables. With a command it runs
// once for scripts: the gateway's body goes to stdout, and the exit code is 0 for a 2xx answer, 1 for any other
// answer, 2 for a usage error or an unreachable gateway. Every request has a timeout (global fetch + AbortSignal).
// A 503 is tried again, at most `attemptsMax` times in all, after the wait backoff.ts gives (Retry-After honoured,
// exponential, jittered) — but only when that is safe: a read; an order the gateway says was not taken; an order
// with an x-order-id, repeated under that id as its Idempotency-Key so it cannot buy twice.
// Input and output are parameters, so the tests drive the loop through streams.

import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { backoffDelayMs, order503Outcome } from './backoff.js';
import { assertNever } from '../assert.js';

export interface ClientIo {
  readonly input: Readable;
  readonly output: Writable;
  readonly errorOutput: Writable;
  /** Per-request timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Attempts of one command when the gateway answers 503; default 4. */
  readonly attemptsMax?: number;
  /** Randomness of the backoff's jitter and the wait itself; tests pass their own. */
  readonly random?: () => number;
  readonly sleep?: (delayMs: number) => Promise<void>;
}

/** How one command is sent: timeouts, retries and where a note about a retry goes. */
interface SendOptions {
  readonly timeoutMs: number;
  readonly attemptsMax: number;
  readonly random: () => number;
  readonly sleep: (delayMs: number) => Promise<void>;
  readonly note: (text: string) => void;
}

/** A client waits at most this long on one Retry-After (the backoff adds up to half again). */
const clientRetryAfterMsMax = 10_000;

type Command =
  | { readonly kind: 'search'; readonly topic: string }
  | { readonly kind: 'list' }
  | { readonly kind: 'lookup'; readonly id: string }
  | { readonly kind: 'buy'; readonly id: string; readonly amount: string }
  | { readonly kind: 'order'; readonly orderId: string }
  | { readonly kind: 'help' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'invalid'; readonly error: string };

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly orderId: string | null;
}

interface ItemView {
  id: number;
  name: string;
  stock: number;
  price: number;
  topic: number;
}

/** The gateway's default address (DESIGN.md §1). */
export const defaultUrl = 'http://127.0.0.1:34800';
const verbs = new Set(['search', 'list', 'lookup', 'buy', 'order', 'help', 'quit', 'exit']);
const exitOk = 0;
const exitRefused = 1;
const exitUsage = 2;
/** A line longer than this is not a command anyone typed. */
const commandLengthMax = 1_000;

const helpText = [
  'commands:',
  '  search TOPIC       books whose topic name contains TOPIC',
  '  list               every book',
  '  lookup ID          one book',
  '  buy ID [AMOUNT]    buy AMOUNT copies (default 1)',
  '  order ORDER_ID     an order you placed',
  '  help               this text',
  '  quit               leave the shop',
].join('\n');

export function parseCommand(words: readonly string[]): Command {
  const [verb, ...rest] = words;
  switch (verb?.toLowerCase()) {
    case 'search':
      return rest.length > 0 ? { kind: 'search', topic: rest.join(' ') } : { kind: 'invalid', error: 'search TOPIC' };
    case 'list':
      return { kind: 'list' };
    case 'lookup':
      return rest.length === 1 ? { kind: 'lookup', id: rest[0] as string } : { kind: 'invalid', error: 'lookup ID' };
    case 'buy':
      if (rest.length < 1 || rest.length > 2) return { kind: 'invalid', error: 'buy ID [AMOUNT]' };
      return { kind: 'buy', id: rest[0] as string, amount: rest[1] ?? '1' };
    case 'order':
      return rest.length === 1 ? { kind: 'order', orderId: rest[0] as string } : { kind: 'invalid', error: 'order ORDER_ID' };
    case 'help':
      return { kind: 'help' };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    default:
      return { kind: 'invalid', error: `unknown command "${verb ?? ''}"; type help` };
  }
}

function requestOf(command: Command): { method: string; path: string } | null {
  switch (command.kind) {
    case 'search':
      return { method: 'GET', path: `/search/${encodeURIComponent(command.topic)}` };
    case 'list':
      return { method: 'GET', path: '/lookup' };
    case 'lookup':
      return { method: 'GET', path: `/lookup/${encodeURIComponent(command.id)}` };
    case 'buy':
      return {
        method: 'POST',
        path: `/order/${encodeURIComponent(command.id)}?amount=${encodeURIComponent(command.amount)}`,
      };
    case 'order':
      return { method: 'GET', path: `/orders/${encodeURIComponent(command.orderId)}` };
    case 'help':
    case 'quit':
    case 'invalid':
      return null;
    default:
      return assertNever(command);
  }
}

/** The headers of a safe repeat of a request that was answered 503, or null when repeating it is not safe. */
export function repeatHeaders(request: { method: string }, response: Response): Record<string, string> | null {
  if (request.method === 'GET') return {};
  if (order503Outcome(response.headers) === 'not-taken') return {};
  const orderId = response.headers.get('x-order-id');
  return orderId === null ? null : { 'idempotency-key': orderId };
}

async function send(base: URL, request: { method: string; path: string }, options: SendOptions): Promise<Answer> {
  let headers: Record<string, string> = {};
  for (let attempt = 1; ; attempt += 1) {
    const response = await fetch(new URL(request.path, base), {
      method: request.method,
      headers,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const answer = { status: response.status, body: await response.text(), orderId: response.headers.get('x-order-id') };
    const repeat = response.status === 503 && attempt < options.attemptsMax ? repeatHeaders(request, response) : null;
    if (repeat === null) return answer;
    headers = { ...headers, ...repeat };
    const retryAfter = response.headers.get('retry-after');
    const delayMs = backoffDelayMs({ attempt, retryAfter, random: options.random, retryAfterMsMax: clientRetryAfterMsMax });
    options.note(`the shop is busy (503); trying again in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${options.attemptsMax})`);
    await options.sleep(delayMs);
  }
}

function errorText(answer: Answer): string {
  // A 503 that names an order: it was taken and may still be bought, so the next step is to look, not to buy again.
  if (answer.status === 503 && answer.orderId !== null) return `outcome unknown: order ${answer.orderId} may still be bought or refused; look with: order ${answer.orderId}`;
  if (answer.status === 503) return 'the shop is unavailable right now; try again in a moment';
  try {
    const body = JSON.parse(answer.body) as { error?: unknown };
    if (typeof body.error === 'string') return `error ${answer.status}: ${body.error}`;
  } catch {
    // Not JSON: the raw text is all we have.
  }
  return `error ${answer.status}: ${answer.body}`;
}

function money(value: number): string {
  return value.toFixed(2);
}

/** A plain-text table; the name column is cut to keep lines under a terminal's width. */
export function itemsTable(items: readonly ItemView[], topics: readonly { id: number; name: string }[]): string {
  if (items.length === 0) return 'no books found';
  const topicName = new Map(topics.map((topic) => [topic.id, topic.name]));
  const rows = items.map((item) => [
    String(item.id),
    item.name.length > 48 ? item.name.slice(0, 47).trimEnd() + '…' : item.name,
    String(item.stock),
    money(item.price),
    topicName.get(item.topic) ?? String(item.topic),
  ]);
  const header = ['id', 'name', 'stock', 'price', 'topic'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const rightAligned = new Set([0, 2, 3]);
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column] as number) : cell.padEnd(widths[column] as number)))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)].join('\n');
}

function describe(command: Command, answer: Answer): string {
  if (answer.status < 200 || answer.status > 299) {
    if (command.kind === 'lookup' && answer.status === 404) return `no book with id ${command.id}`;
    if (command.kind === 'order' && answer.status === 404) return `no order ${command.orderId}`;
    return errorText(answer);
  }
  switch (command.kind) {
    case 'search':
    case 'list': {
      const body = JSON.parse(answer.body) as { result: ItemView[]; topics: { id: number; name: string }[] };
      return itemsTable(body.result, body.topics);
    }
    case 'lookup': {
      const body = JSON.parse(answer.body) as { result: ItemView; topics: { id: number; name: string }[] };
      const item = body.result;
      const topic = body.topics[0]?.name ?? `topic ${item.topic}`;
      return `#${item.id} ${item.name}\n   ${item.stock} in stock, ${money(item.price)} each, ${topic}`;
    }
    case 'buy':
      return answer.body === 'true'
        ? `bought ${command.amount} of book ${command.id} (order ${answer.orderId ?? '?'})`
        : `not bought: no such book or not enough in stock (order ${answer.orderId ?? '?'})`;
    case 'order': {
      const order = (JSON.parse(answer.body) as { result: Record<string, unknown> }).result;
      const when = typeof order.createdAt === 'number' ? new Date(order.createdAt).toISOString() : '?';
      const total = order.total === null ? 'total not yet known' : `total ${money(Number(order.total))}`;
      const status = typeof order.reason === 'string' ? `${String(order.status)} (${order.reason})` : String(order.status);
      return `order ${String(order.id)}: ${String(order.amount)} of book ${String(order.item)}, ${total}, ${status}, placed ${when}`;
    }
    case 'help':
    case 'quit':
    case 'invalid':
      return '';
    default:
      return assertNever(command);
  }
}

function write(stream: Writable, text: string): void {
  stream.write(text.endsWith('\n') ? text : text + '\n');
}

function parseBase(text: string | undefined): URL | null {
  if (text === undefined) return null;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

async function runOnce(base: URL, words: readonly string[], io: ClientIo, options: SendOptions): Promise<number> {
  const command = parseCommand(words);
  const request = requestOf(command);
  if (request === null) {
    write(io.errorOutput, command.kind === 'invalid' ? `usage: pygmy client [URL] ${command.error}` : helpText);
    return command.kind === 'help' ? exitOk : exitUsage;
  }
  try {
    const answer = await send(base, request, { ...options, note: (text) => write(io.errorOutput, text) });
    write(io.output, answer.body);
    if (answer.orderId !== null) write(io.errorOutput, `order id: ${answer.orderId}`);
    return answer.status >= 200 && answer.status <= 299 ? exitOk : exitRefused;
  } catch (error) {
    write(io.errorOutput, `cannot reach ${base.origin}: ${error instanceof Error ? error.message : String(error)}`);
    return exitUsage;
  }
}

async function answerLine(base: URL, line: string, io: ClientIo, options: SendOptions): Promise<boolean> {
  const words = line.slice(0, commandLengthMax).trim().split(/\s+/).filter((word) => word.length > 0);
  if (words.length === 0) return true;
  const command = parseCommand(words);
  if (command.kind === 'quit') return false;
  const request = requestOf(command);
  if (request === null) {
    write(io.output, command.kind === 'invalid' ? `usage: ${command.error}` : helpText);
    return true;
  }
  try {
    write(io.output, describe(command, await send(base, request, options)));
  } catch (error) {
    write(io.output, `cannot reach ${base.origin}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return true;
}

async function runInteractive(base: URL, io: ClientIo, options: SendOptions): Promise<number> {
  write(io.output, `Welcome to Pygmy.com, the world's smallest bookstore (${base.origin}). Type help.`);
  const lines = createInterface({ input: io.input, crlfDelay: Infinity, terminal: false });
  const prompt = () => io.output.write('pygmy> ');
  prompt();
  try {
    for await (const line of lines) {
      if (!(await answerLine(base, line, io, options))) break;
      prompt();
    }
  } finally {
    lines.close();
  }
  write(io.output, '\nbye');
  return exitOk;
}

export async function main(
  argv: string[],
  io: ClientIo = { input: process.stdin, output: process.stdout, errorOutput: process.stderr },
): Promise<number> {
  const [first, ...others] = argv;
  // The first word is the URL unless it is a command (or absent): then the default URL applies.
  const defaulted = first === undefined || verbs.has(first.toLowerCase());
  const base = defaulted ? new URL(defaultUrl) : parseBase(first);
  const words = defaulted ? argv : others;
  if (base === null) {
    write(io.errorOutput, `usage: pygmy client [URL] [COMMAND]   ("${first}" is neither a command nor an http:// or https:// URL; the default URL is ${defaultUrl})\n${helpText}`);
    return exitUsage;
  }
  const options: SendOptions = {
    timeoutMs: io.timeoutMs ?? 5_000,
    attemptsMax: io.attemptsMax ?? 4,
    random: io.random ?? Math.random,
    sleep: io.sleep ?? ((delayMs) => sleepMs(delayMs)),
    note: (text) => write(io.output, text),
  };
  return words.length === 0 ? runInteractive(base, io, options) : runOnce(base, words, io, options);
}
