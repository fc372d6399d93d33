// Bad input at scale against a real `pygmy start`: a seeded generator throws malformed request lines, huge
// headers, invalid percent-encoding, pipelined garbage and random bytes at the gateway over raw sockets, while
// slow clients dribble their headers and 2 000 idle connections sit open. Throughout, a prober sends valid
// lookups: each must be answered 200 within a bound, no answer to garbage may be a 500, the process must stay up,
// its resident memory must stay within a bound, and the dribbling clients must be cut off by the headers timeout.
// Every loop is bounded in time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { http, makeDataDir, removeDataDir, sleep, startPygmy, type PygmyProcess } from '../../src/check/process.js';
import { SeededRandom } from '../../src/raft/sim/random.js';

const fuzzDurationMs = 15_000;
const idleConnections = 2_000;
const probeLatencyMsMax = 1_000;
const rssGrowthBytesMax = 150 * 1024 * 1024;
const headersTimeoutMs = 10_000;

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

const methods = ['GET', 'POST', 'PUT', 'DELETE', 'G\x00T', 'get', '', 'GETT', 'OPTIONS', 'A'.repeat(300)];
const paths = ['/lookup/1', '/lookup/%', '/lookup/%zz', '/search/%E0%A4%A', '/search/' + '%'.repeat(50), '/order/1?amount=%FF', '/orders?item=%', '/lookup/1/../../etc', '*', '', '/'.repeat(5_000), '/search/\u00e9', '/lookup/99999999999999999999'];

function garbage(random: SeededRandom): string {
  switch (random.integer(0, 6)) {
    case 0:
      return `${random.pick(methods)} ${random.pick(paths)} HTTP/1.1\r\nHost: x\r\n\r\n`;
    case 1:
      return `GET /lookup/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(random.integer(10_000, 70_000))}\r\n\r\n`;
    case 2:
      return Array.from({ length: random.integer(2, 20) }, () => `GET ${random.pick(paths)} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') + 'NONSENSE\r\n\r\n';
    case 3:
      return Buffer.from(Array.from({ length: random.integer(1, 2_000) }, () => random.integer(0, 255))).toString('latin1');
    case 4:
      return `POST /order/1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${random.pick(['-1', 'abc', '99999999999', '10'])}\r\n\r\nxx`;
    case 5:
      return `GET /lookup/1 HTTP/9.9\r\n${'H: v\r\n'.repeat(random.integer(100, 3_000))}\r\n`;
    default:
      return `GET /lookup/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\nzz\r\n${'q'.repeat(100)}\r\n`;
  }
}

/** Sends one piece of garbage and reads whatever comes back until the server closes or 2 s pass. */
function throwGarbage(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, 2_000);
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', done);
    socket.on('close', done);
    socket.write(payload, 'latin1', () => socket.end());
  });
}

function openIdle(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Dribbles a request line and headers one byte at a time; resolves with when the server closed the socket. */
function dribble(port: number, limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const text = `GET /lookup/1 HTTP/1.1\r\nHost: x\r\n${'X-Slow: yes\r\n'.repeat(1_000)}`;
    let position = 0;
    const tick = setInterval(() => {
      if (Date.now() - started > limitMs) return finish();
      if (!socket.destroyed) socket.write(text[position++ % text.length]!);
    }, 200);
    const finish = () => {
      clearInterval(tick);
      socket.destroy();
      resolve(Date.now() - started);
    };
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

test('garbage, slow clients and idle connections: valid requests stay fast, memory bounded, no crash', async () => {
  const dataDir = makeDataDir('pygmy-fuzz-');
  let pygmy: PygmyProcess | null = null;
  const idle: Socket[] = [];
  try {
    pygmy = await startPygmy({ dataDir });
    const url = new URL(pygmy.url);
    const port = Number(url.port);
    const pid = pygmy.child.pid!;
    const rssBefore = residentBytes(pid);
    for (let index = 0; index < idleConnections; index += 1) idle.push(await openIdle(port));
    const dribblers = Array.from({ length: 20 }, () => dribble(port, headersTimeoutMs + 5_000));
    const random = new SeededRandom(7);
    const answers: string[] = [];
    const latencies: number[] = [];
    let fuzzing = true;
    const prober = (async () => {
      while (fuzzing) {
        const started = Date.now();
        const answer = await http('GET', `${pygmy!.url}/lookup/${random.integer(1, 4)}`, { timeoutMs: 5_000 });
        latencies.push(Date.now() - started);
        assert.is(answer.status, 200, answer.text);
        await sleep(50);
      }
    })();
    const deadline = Date.now() + fuzzDurationMs;
    let thrown = 0;
    while (Date.now() < deadline) {
      const batch = Array.from({ length: 8 }, () => throwGarbage(port, garbage(random)));
      answers.push(...(await Promise.all(batch)));
      thrown += batch.length;
    }
    fuzzing = false;
    await prober;
    const dribbleLifetimes = await Promise.all(dribblers);
    const rssAfter = residentBytes(pid);
    assert.ok(thrown > 200, `garbage requests thrown: ${thrown}`);
    assert.ok(!answers.some((answer) => /^HTTP\/1\.1 5\d\d/m.test(answer) && !/^HTTP\/1\.1 503/m.test(answer)), 'no 5xx other than 503 answered to garbage');
    assert.ok(latencies.length > 20, `probes: ${latencies.length}`);
    const slowest = Math.max(...latencies);
    assert.ok(slowest <= probeLatencyMsMax, `slowest valid lookup ${slowest} ms (bound ${probeLatencyMsMax} ms)`);
    for (const lifetime of dribbleLifetimes) assert.ok(lifetime < headersTimeoutMs + 3_000, `a dribbling client was cut off after ${lifetime} ms`);
    assert.ok(rssAfter - rssBefore < rssGrowthBytesMax, `resident memory grew by ${((rssAfter - rssBefore) / 1e6).toFixed(0)} MB`);
    assert.is(pygmy.child.exitCode, null, 'the process is still up');
    assert.is((await http('GET', `${pygmy.url}/health`)).status, 200);
  } finally {
    for (const socket of idle) socket.destroy();
    await pygmy?.stop();
    removeDataDir(dataDir);
  }
});

test.run();
