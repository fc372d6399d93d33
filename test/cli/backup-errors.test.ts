// `pygmy backup` when the backup cannot start: a gateway that cannot be reached, or one that refuses (another
// backup running answers 409). Each is a failed run (exit 1) said in one line naming the cause — not a usage error
// (exit 2) nor a stack — and nothing is written.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main as backupMain } from '../../src/cli/backup.js';
import { printedBy } from '../support/console-capture.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function backupInto(gateway: string): Promise<{ code: number; printed: string[]; wrote: boolean }> {
  const work = mkdtempSync(join(tmpdir(), 'pygmy-backup-errors-'));
  const out = join(work, 'out');
  try {
    let code = -1;
    const printed = await printedBy(async () => {
      code = await backupMain(['--gateway', gateway, '--out', out]);
    });
    return { code, printed, wrote: existsSync(out) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

test('an unreachable gateway is a failed run in one line, not a usage error', async () => {
  const closed = createServer();
  const port = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  const { code, printed, wrote } = await backupInto(`http://127.0.0.1:${port}`);
  assert.is(code, 1);
  assert.is(printed.length, 1, printed.join('\n'));
  assert.match(printed[0]!, new RegExp(`^pygmy backup: could not reach the gateway http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  assert.not.ok(wrote, 'nothing is written');
});

test('a gateway that refuses (another backup runs) is a failed run naming its answer', async () => {
  const busy = createServer((_request, response) => {
    response.writeHead(409, { 'content-type': 'application/json' }).end('{"ok":false,"error":"a backup is already running"}');
  });
  const port = await listen(busy);
  try {
    const { code, printed, wrote } = await backupInto(`http://127.0.0.1:${port}`);
    assert.is(code, 1);
    assert.equal(printed, ['pygmy backup: the gateway answered 409: {"ok":false,"error":"a backup is already running"}']);
    assert.not.ok(wrote, 'nothing is written');
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

test.run();
