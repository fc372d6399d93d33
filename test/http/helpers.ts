// Test helpers for the gateway: a one-connection HTTP call that returns status, headers and the exact body
// text, a raw-socket exchange for requests node:http would refuse to send, and a logger that keeps its lines.

import { request } from 'node:http';
import { connect } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Test } from 'uvu';

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port, method, path, headers: options.headers, agent: false },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () =>
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks).toString() }),
        );
        incoming.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** Writes `text` on a fresh socket and collects everything until the server closes it (at most `waitMs`). */
export function rawExchange(port: number, text: string, waitMs: number): Promise<{ received: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received, closed: false });
    }, waitMs);
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received, closed: true });
    });
    socket.write(text);
  });
}

export function capturingLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/** Gives every test of `tests` its own gateway from `start`, closed after the test. */
export function gatewayEach<T extends { gateway: { close(): Promise<void> } }>(tests: Test<T>, start: () => Promise<T>): void {
  tests.before.each(async (context) => {
    Object.assign(context, await start());
  });
  tests.after.each(async (context) => context.gateway.close());
}

/** Runs `body` on the gateway `started` gives, and closes the gateway however `body` ends. */
export async function withGateway<T extends { gateway: { close(): Promise<void> } }>(started: Promise<T>, body: (context: T) => Promise<void>): Promise<void> {
  const context = await started;
  try {
    await body(context);
  } finally {
    await context.gateway.close();
  }
}
