// One authenticated connection between two nodes, over a TCP or TLS socket.
//
// Owns: the socket, the handshake state machine (awaiting-hello → awaiting-proof → open), the session (every
// frame after a side's proof carries a tag under a key derived from the secret and both nonces, session.ts), the
// heartbeat and failure detector, the round trip measured on the heartbeats, outgoing batching and the bounded send queue. Promises: no envelope is
// delivered before the peer proved it knows the secret, nor from a frame whose tag is not the next one expected
// (injected, replayed, reordered or altered frames close the connection before anything in them is used); any
// protocol problem (oversize, garbage, wrong secret, replay, data before
// the handshake, silence past failureTimeoutMs, a truncated frame) closes the connection with a logged reason
// and never throws out of a socket callback; envelopes sent in one microtask turn go out as one frame (at most
// frameEnvelopesMax envelopes); `send` returns false when more than sendQueueBytesHighWater bytes wait in the
// socket, and drops (counted) beyond sendQueueBytesMax. `onClose` is called exactly once.
// Needs: a connected socket, the cluster secret, callbacks, and a clock (default: the process's monotonic one).

import type { Socket } from 'node:net';
import type { Logger } from '../actor.js';
import { monotonicNowMs } from '../clock.js';
import { assert } from '../errors.js';
import { frameEnvelopesMax, type Envelope } from '../wire.js';
import { decodeBatch, encodeBatch } from './codec.js';
import { encodeFrameBytes, FrameReader, payloadKindControl, payloadKindData, preAuthFrameBytesMax, type Frame, type PayloadKind } from './framing.js';
import { freshNonce, parseControl, proofMac, proofMatches, protocolVersion, roundTripSampleMs, type ControlMessage, type PingMessage } from './handshake.js';
import { deriveSessionKeys, FrameOpener, FrameSealer, tagBytes } from './session.js';

export interface ConnectionLimits {
  readonly frameBytesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
  readonly sendQueueBytesHighWater: number;
  readonly sendQueueBytesMax: number;
}

export const connectionLimitsDefault: ConnectionLimits = {
  /** Bound on one frame's payload; a peer announcing more is disconnected. */
  frameBytesMax: 16 * 1024 * 1024,
  handshakeTimeoutMs: 2_000,
  // A silent peer (a host that died without closing, a cut link) is noticed within failureTimeoutMs +
  // heartbeatIntervalMs (1.25 s), so its replicas' groups fail over within about a second of it; four
  // heartbeats per timeout keep a peer whose thread is busy for a few hundred ms from being taken for dead.
  heartbeatIntervalMs: 250,
  failureTimeoutMs: 1_000,
  sendQueueBytesHighWater: 8 * 1024 * 1024,
  sendQueueBytesMax: 64 * 1024 * 1024,
};

export interface ConnectionOptions {
  readonly socket: Socket;
  readonly selfNode: string;
  /** The node we dialed; null on an accepted socket (the hello names the peer, `acceptPeer` vets it). */
  readonly expectedPeer: string | null;
  readonly acceptPeer: (node: string) => boolean;
  readonly secret: Buffer;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  readonly onOpen: (connection: Connection) => void;
  readonly onEnvelopes: (connection: Connection, envelopes: Envelope[]) => void;
  readonly onInvalid: (connection: Connection, problem: string, count: number) => void;
  readonly onDrain: (connection: Connection) => void;
  readonly onClose: (connection: Connection, reason: string) => void;
  /**
   * Until the handshake completes: the bytes this connection now holds for the peer (an incomplete frame, at most
   * frameHeaderBytes + preAuthFrameBytesMax). False closes the connection (the node's pre-auth bound is reached).
   */
  readonly onPreAuthBytes?: (connection: Connection, bytes: number) => boolean;
  /**
   * Ms, for the failure detector and for asks' time remaining (codec.ts): an ask's deadline is read on it when
   * a batch is sent and set on it when one arrives. Default: this process's monotonic clock (../clock.ts).
   */
  readonly clock?: () => number;
}

type State =
  | { phase: 'awaiting-hello' }
  | { phase: 'awaiting-proof'; peer: string; peerNonce: string; opener: FrameOpener }
  | { phase: 'open'; peer: string; opener: FrameOpener }
  | { phase: 'closed' };

export interface ConnectionCounters {
  framesSent: number;
  framesReceived: number;
  /** Bytes written to and read from the socket (frame headers, seals and handshake included). */
  bytesSent: number;
  bytesReceived: number;
  envelopesSent: number;
  envelopesReceived: number;
  dropped: number;
}

/** The round trip to the peer, measured on the heartbeats (handshake.ts, PingMessage). */
export interface RoundTrip {
  readonly lastMs: number;
  /** Smoothed as TCP smooths its RTT (RFC 6298: srtt += (sample − srtt) / 8). */
  readonly smoothedMs: number;
  readonly samples: number;
}

export class Connection {
  readonly counters: ConnectionCounters = { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0, envelopesSent: 0, envelopesReceived: 0, dropped: 0 };
  private readonly options: ConnectionOptions;
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private readonly nonce = freshNonce();
  private state: State = { phase: 'awaiting-hello' };
  private openedAs: string | null = null;
  /** Seals every frame this side sends after its proof; null before. */
  private sealer: FrameSealer | null = null;
  private batch: Envelope[] = [];
  private flushScheduled = false;
  private readonly clock: () => number;
  private lastReceivedAtMs: number;
  private readonly handshakeTimer: NodeJS.Timeout;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** The peer's last probe not yet echoed: its sentAt, and when it arrived on this side's clock. */
  private peerProbe: { sentAt: number; receivedAtMs: number } | null = null;
  private roundTripFigures: RoundTrip | null = null;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.clock = options.clock ?? monotonicNowMs;
    this.lastReceivedAtMs = this.clock();
    this.socket = options.socket;
    // Until the peer proves it holds the secret, a frame is at most 4 KiB: a stranger cannot make this node
    // buffer more than that per connection (the limit is raised in open()).
    this.reader = new FrameReader(Math.min(preAuthFrameBytesMax, options.limits.frameBytesMax));
    // A busy send is released by the socket's own 'drain', which comes only after a write the socket refused
    // (past its writableHighWaterMark): below that mark, a connection that said busy would never hear a drain.
    assert(options.limits.sendQueueBytesHighWater >= this.socket.writableHighWaterMark, 'sendQueueBytesHighWater must be at least the socket\'s writableHighWaterMark', {
      sendQueueBytesHighWater: options.limits.sendQueueBytesHighWater,
      writableHighWaterMark: this.socket.writableHighWaterMark,
    });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('drain', () => options.onDrain(this));
    this.socket.on('error', (error) => this.close(`socket error: ${error.message}`));
    this.socket.on('end', () => this.close(this.reader.pendingBytes > 0 ? `truncated frame (${this.reader.pendingBytes} bytes) at end of stream` : 'peer ended the connection'));
    this.socket.on('close', () => this.close('socket closed'));
    this.handshakeTimer = setTimeout(() => this.close(`no handshake within ${options.limits.handshakeTimeoutMs} ms`), options.limits.handshakeTimeoutMs);
    this.writeControl({ type: 'hello', version: protocolVersion, node: options.selfNode, nonce: this.nonce });
  }

  /** The authenticated peer's node name, once open. */
  get peer(): string | null {
    return this.state.phase === 'open' ? this.state.peer : null;
  }

  /**
   * The node this connection authenticated as, kept after it closes (null if it never opened). A connection this
   * node accepted knows its peer only from the handshake: its close handler needs the name to fail what was in
   * flight over it.
   */
  get authenticatedPeer(): string | null {
    return this.openedAs;
  }

  /** The round trip to the peer; null until a heartbeat came back (or from a peer that sends no probe). */
  get roundTrip(): RoundTrip | null {
    return this.roundTripFigures;
  }

  get isOpen(): boolean {
    return this.state.phase === 'open';
  }

  /** Bytes queued in the socket, not yet handed to the kernel (the send queue the high-water mark bounds). */
  get sendQueueBytes(): number {
    return this.socket.writableLength;
  }

  get remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  /** Queues an envelope for the next frame; false means "busy, wait for drain". */
  send(envelope: Envelope): boolean {
    if (this.state.phase !== 'open' || this.socket.writableLength > this.options.limits.sendQueueBytesMax) {
      this.counters.dropped += 1;
      return false;
    }
    this.batch.push(envelope);
    if (this.batch.length >= frameEnvelopesMax) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    return this.socket.writableLength <= this.options.limits.sendQueueBytesHighWater;
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0 || this.state.phase !== 'open') return;
    const batch = this.batch;
    this.batch = [];
    const body = encodeBatch(batch, this.clock());
    if (body.length + 1 + tagBytes > this.options.limits.frameBytesMax) return this.sendOversizeBatch(batch);
    this.write(payloadKindData, body);
    this.counters.envelopesSent += batch.length;
  }

  close(reason: string): void {
    if (this.state.phase === 'closed') return;
    const wasOpen = this.state.phase === 'open';
    this.state = { phase: 'closed' };
    clearTimeout(this.handshakeTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.batch = [];
    this.socket.destroy();
    // A refused dial while a peer is down repeats on every backoff step: debug, not a warning each time.
    const level = wasOpen || reason === 'closed by this node' ? 'info' : reason.includes('ECONNREFUSED') ? 'debug' : 'warn';
    this.options.log[level]({ remote: this.remoteAddress, reason, event: 'transport-close' }, `transport: connection with ${this.peerLabel()} closed: ${reason}`);
    this.options.onClose(this, reason);
  }

  /** Splits a batch whose frame would be too large; one envelope that alone is too large is dropped and counted. */
  private sendOversizeBatch(batch: Envelope[]): void {
    if (batch.length === 1) {
      this.counters.dropped += 1;
      this.options.log.warn({ to: batch[0]!.to, event: 'transport-oversize' }, `transport: dropped a message to ${batch[0]!.to}: larger than frameBytesMax`);
      return;
    }
    const half = Math.ceil(batch.length / 2);
    this.batch = batch.slice(0, half);
    this.flush();
    this.batch = batch.slice(half);
    this.flush();
  }

  private isClosed(): boolean {
    return this.state.phase === 'closed';
  }

  private peerLabel(): string {
    if (this.state.phase === 'open' || this.state.phase === 'awaiting-proof') return this.state.peer;
    return this.openedAs ?? this.options.expectedPeer ?? this.remoteAddress;
  }

  private write(kind: PayloadKind, body: Buffer): void {
    const frameBytesMax = this.options.limits.frameBytesMax;
    const frame = this.sealer === null ? encodeFrameBytes(kind, body, frameBytesMax) : this.sealer.seal(kind, body, frameBytesMax);
    this.socket.write(frame);
    this.counters.framesSent += 1;
    this.counters.bytesSent += frame.length;
  }

  private writeControl(message: ControlMessage): void {
    this.write(payloadKindControl, Buffer.from(JSON.stringify(message)));
  }

  private receive(chunk: Buffer): void {
    if (this.state.phase === 'closed') return;
    this.lastReceivedAtMs = this.clock();
    this.counters.bytesReceived += chunk.length;
    this.reader.append(chunk);
    // One frame at a time: the frame bound rises when the proof opens the connection, between two frames.
    for (;;) {
      const next = this.reader.next();
      if (!next.ok) return this.close(next.problem);
      if (next.frame === null) break;
      this.counters.framesReceived += 1;
      this.handleFrame(next.frame);
      if (this.isClosed()) return;
    }
    if (this.state.phase !== 'open') this.accountPreAuthBytes();
  }

  /** Before authentication the reader keeps its few bytes in a buffer of their own, and the node counts them. */
  private accountPreAuthBytes(): void {
    this.reader.compact();
    const report = this.options.onPreAuthBytes;
    if (report !== undefined && !report(this, this.reader.pendingBytes)) {
      this.close(`pre-authentication memory bound reached (${this.reader.pendingBytes} bytes more refused)`);
    }
  }

  /** Bytes held for this peer before it authenticated (0 once open). */
  get preAuthBytes(): number {
    return this.state.phase === 'open' ? 0 : this.reader.pendingBytes;
  }

  private handleFrame(sealed: Frame): void {
    const frame = this.unseal(sealed);
    if (frame === null) return this.close('frame failed authentication (injected, replayed, reordered or altered)');
    if (frame.kind === payloadKindData) {
      if (this.state.phase !== 'open') return this.close('data before the handshake completed');
      const decoded = decodeBatch(frame.body, this.clock());
      if (!decoded.ok) return this.close(`invalid data frame: ${decoded.problem}`);
      if (decoded.invalidCount > 0) this.options.onInvalid(this, decoded.firstProblem ?? 'invalid envelope', decoded.invalidCount);
      this.counters.envelopesReceived += decoded.envelopes.length;
      return this.options.onEnvelopes(this, decoded.envelopes);
    }
    const message = parseControl(frame.body.toString('utf8'));
    if (message === null) return this.close('invalid control message');
    this.handleControl(message);
  }

  /** Once open, a frame is its body without the tag, if the tag is the next one expected; before, as it came. */
  private unseal(frame: Frame): Frame | null {
    if (this.state.phase !== 'open') return frame;
    const body = this.state.opener.open(frame);
    return body === null ? null : { kind: frame.kind, body };
  }

  private handleControl(message: ControlMessage): void {
    const state = this.state;
    switch (message.type) {
      case 'hello':
        if (state.phase !== 'awaiting-hello') return this.close('unexpected hello');
        return this.onHello(message);
      case 'proof':
        if (state.phase !== 'awaiting-proof') return this.close('unexpected proof');
        if (!proofMatches(proofMac(this.options.secret, state.peer, this.options.selfNode, this.nonce, state.peerNonce), message.mac)) {
          return this.close(`${state.peer} failed authentication (wrong secret or replayed handshake)`);
        }
        return this.open(state.peer, state.opener);
      case 'ping':
        if (state.phase !== 'open') return this.close('ping before the handshake completed');
        return this.onPing(message);
      case 'bye':
        return this.close(`peer said goodbye: ${message.reason}`);
    }
  }

  private onHello(hello: Extract<ControlMessage, { type: 'hello' }>): void {
    if (hello.version !== protocolVersion) return this.close(`protocol version ${hello.version}, this node speaks ${protocolVersion}`);
    if (hello.node === this.options.selfNode) return this.close('peer claims this node\'s own name');
    if (this.options.expectedPeer !== null && hello.node !== this.options.expectedPeer) return this.close(`dialed ${this.options.expectedPeer} but ${hello.node} answered`);
    if (this.options.expectedPeer === null && !this.options.acceptPeer(hello.node)) return this.close(`node ${hello.node} may not connect here`);
    const keys = deriveSessionKeys(this.options.secret, this.options.selfNode, hello.node, this.nonce, hello.nonce);
    this.state = { phase: 'awaiting-proof', peer: hello.node, peerNonce: hello.nonce, opener: new FrameOpener(keys.receiveKey) };
    this.writeControl({ type: 'proof', mac: proofMac(this.options.secret, this.options.selfNode, hello.node, hello.nonce, this.nonce) });
    // The proof is the last frame this side sends in clear: the peer checks a tag on every later one.
    this.sealer = new FrameSealer(keys.sendKey);
  }

  private open(peer: string, opener: FrameOpener): void {
    assert(this.state.phase === 'awaiting-proof', 'open outside the handshake', { peer });
    clearTimeout(this.handshakeTimer);
    this.state = { phase: 'open', peer, opener };
    this.openedAs = peer;
    this.reader.setFrameBytesMax(this.options.limits.frameBytesMax);
    this.options.onPreAuthBytes?.(this, 0);
    this.lastReceivedAtMs = this.clock();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.limits.heartbeatIntervalMs);
    this.options.log.info({ peer, remote: this.remoteAddress, event: 'transport-open' }, `transport: connected to ${peer} (authenticated)`);
    this.options.onOpen(this);
  }

  private heartbeat(): void {
    const nowMs = this.clock();
    const silentMs = nowMs - this.lastReceivedAtMs;
    if (silentMs > this.options.limits.failureTimeoutMs) return this.close(`no heartbeat for ${silentMs} ms`);
    const probe = this.peerProbe;
    this.peerProbe = null;
    this.writeControl(probe === null ? { type: 'ping', sentAt: nowMs } : { type: 'ping', sentAt: nowMs, echo: probe.sentAt, heldMs: nowMs - probe.receivedAtMs });
  }

  /** Keeps the peer's probe for the next heartbeat to echo, and takes a round-trip sample from the echo it carries. */
  private onPing(ping: PingMessage): void {
    const nowMs = this.clock();
    if (ping.sentAt !== undefined) this.peerProbe = { sentAt: ping.sentAt, receivedAtMs: nowMs };
    const sampleMs = roundTripSampleMs(ping, nowMs);
    if (sampleMs === null) return;
    const before = this.roundTripFigures;
    const smoothedMs = before === null ? sampleMs : before.smoothedMs + (sampleMs - before.smoothedMs) / 8;
    this.roundTripFigures = { lastMs: sampleMs, smoothedMs, samples: (before?.samples ?? 0) + 1 };
  }
}
