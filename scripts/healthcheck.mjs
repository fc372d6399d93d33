#!/usr/bin/env node
// The container health check: exit 0 when healthy, 1 otherwise, within 2 s, with one line saying why.
//
// Target (first argument, else PYGMY_HEALTHCHECK, else http://127.0.0.1:34800/ready):
//   http://HOST:PORT/PATH  healthy when a GET answers 2xx (a gateway node: /ready, both groups have a leader)
//   listen:PORT            healthy when this container listens on TCP PORT (a replica-only node has no HTTP
//                          listener; its transport port is read from /proc/net/tcp and tcp6, so the check opens
//                          no connection and leaves nothing in the node's log)
// Plain JavaScript with no dependency, so it runs on any image that has node (no curl needed).
import { readFileSync } from 'node:fs';

const timeoutMs = 2_000;
const target = process.argv[2] ?? process.env.PYGMY_HEALTHCHECK ?? 'http://127.0.0.1:34800/ready';

function listening(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    // Columns: sl local_address rem_address st …; state 0A is LISTEN.
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length > 3 && columns[1].endsWith(`:${hex}`) && columns[3] === '0A') return true;
    }
  }
  return false;
}

async function check() {
  const listen = /^listen:(\d{1,5})$/.exec(target);
  if (listen !== null) {
    const port = Number(listen[1]);
    return listening(port) ? `listening on ${port}` : Promise.reject(new Error(`nothing listens on ${port}`));
  }
  if (!/^https?:\/\//.test(target)) throw new Error(`target must be http(s)://… or listen:PORT, got "${target}"`);
  // The container's admin token, when it has one, for a gateway that guards every operations route.
  const token = process.env.PYGMY_ADMIN_TOKEN;
  const headers = token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(target, { headers, signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  if (response.status < 200 || response.status > 299) throw new Error(`${target} answered ${response.status}`);
  return `${target} answered ${response.status}`;
}

check().then(
  (what) => {
    console.log(`healthy: ${what}`);
    process.exit(0);
  },
  (error) => {
    console.log(`unhealthy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
