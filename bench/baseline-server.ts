// The ceiling for any Node gateway: a bare node:http server answering every request with the 171-byte lookup
// body of DESIGN.md §1 and the same headers as a cached lookup of the gateway (content type, x-cache, length).
//
//   node dist/bench/baseline-server.js [--port 0]
//
// Prints `baseline: ready at URL` when it listens; SIGTERM or SIGINT closes it. No routing, no validation, no
// metrics, no logging: whatever Pygmy spends on top of this is what the benchmark compares.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

export const baselineBody =
  '{"ok":true,"result":{"id":1,"name":"How to get a good grade in 677 in 20 minutes a day","stock":10,"price":19.9,"topic":1},"topics":[{"id":1,"name":"Distributed systems"}]}';

const headers = { 'content-type': 'application/json', 'x-cache': 'HIT', 'content-length': Buffer.byteLength(baselineBody) };

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string' } } });
  const server = createServer((_request, response) => {
    response.writeHead(200, headers);
    response.end(baselineBody);
  });
  server.listen(Number(values.port ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    console.log(`baseline: ready at http://127.0.0.1:${port}`);
  });
  const close = () => {
    server.close();
    server.closeAllConnections();
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

// Imported for the body by the checks; run as a program only when it is the entry point.
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) main();
