// The node transport: this process's TCP links to the other nodes of a cluster, and the routing of actor names
// across them.
//
// Owns: the listening server, one authenticated Connection per peer node (the node whose name sorts lower
// dials; the other accepts, so a pair never has two), reconnection with exponential backoff and full jitter,
// the main-thread ends of the channels that give each local worker a route to every remote name, and the
// NodeLinks (node-link.ts) that give the main endpoint (`$system`) the same. The one transport contract holds on
// every hop: a NodeLink's `send` is its connection's busy signal, and each worker channel's two directions go
// through a DrainGate (../drain-gate.ts), so a busy socket or a busy worker port is waited for, with what waits
// bounded (linkHeldEnvelopesMax per direction) and counted (`held`; refused past the bound: `refusedBusy`). Names on the wire: actors by their own names, this
// process's main endpoint as `$system@NODE`, its control service as `$node@NODE`.
// Promises: a peer may only speak for names that live on it and only to names that live here (anything else is
// counted invalid and dropped); an ask to a name on an unreachable node fails at once with
// ActorUnavailableError instead of waiting for its deadline, and so does an ask already sent when its node's
// connection drops (its outcome is unknown, as for an actor whose thread ends mid-ask); control asks (`status`, `kill`, `stop`, `start`,
// `isolate`, `heal`, `admitNode`, `place`, `spawn`, `retire`) are served only for another node's `$system`. Refuses to start listening beyond loopback
// without a secret. Before a peer authenticates (admission.ts): a socket from an address that is neither a node
// of the layout nor in `allowFrom` is closed at once; the others share per-address and total handshake slots;
// their frames are at most 4 KiB and the bytes held for them, in all, stay within preAuthBytesMax (1 MiB).
// Deadlines: an ask crosses a link as its time remaining (codec.ts), made an instant on this node's clock when it
// arrives, so the two hosts' wall clocks may differ or be set at any time; an ask that arrives with no time left
// is dropped here (counted `asksExpired`), its asker having given up. The remaining-time frame came with protocol
// version 3 (handshake.ts), which refuses a node of an older version at its hello: the nodes of a cluster are
// upgraded all at once. Needs: the cluster layout, the local ActorSystem (attach + control), a logger, and
// optionally a clock (default: this process's monotonic clock, the one the local endpoints judge deadlines on).

import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createServer, connect as connectTcp, isIP, type Server, type Socket } from 'node:net';
import { connect as connectTls, createServer as createTlsServer } from 'node:tls';
import type { MessagePort } from 'node:worker_threads';
import type { ActorName, Logger } from '../actor.js';
import { monotonicNowMs } from '../clock.js';
import { DrainGate } from '../drain-gate.js';
import { linkHeldEnvelopesMaxDefault } from '../endpoint.js';
import { ActorUnavailableError, MailboxFullError, assert, toErrorData } from '../errors.js';
import type { ActorStatus, RemotePeers } from '../system.js';
import { MessagePortLink, type LinkFactory } from '../transport.js';
import { systemEndpointName, type Envelope } from '../wire.js';
import { AddressAllowList, admissionLimitsDefault, checkAdmissionLimits, HandshakeSlots, PreAuthLedger, type AdmissionLimits } from './admission.js';
import { Connection, connectionLimitsDefault, type ConnectionLimits } from './connection.js';
import { frameHeaderBytes, preAuthFrameBytesMax } from './framing.js';
import { NodeLink, type NodeRoute } from './node-link.js';

export interface NodeAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Actors supervised on this node. */
  readonly actors: readonly ActorName[];
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** What the transport needs of the local actor system. */
export interface LocalSystem {
  attach(peer: ActorName, makeLink: LinkFactory): void;
  status(): Promise<ActorStatus[]>;
  kill(name: ActorName): Promise<void>;
  stop(name: ActorName): Promise<void>;
  startActor(name: ActorName): Promise<void>;
  isolate(name: ActorName): Promise<void>;
  heal(name: ActorName): Promise<void>;
  /** Gives every live child a channel to a remote name that appeared after start (a node that joined). */
  connectRemote?(remote: ActorName): Promise<void>;
}

export type NodeControlRequest =
  | { readonly type: 'status' }
  | { readonly type: 'kill' | 'stop' | 'start' | 'isolate' | 'heal'; readonly name: ActorName }
  /** A node that joined the cluster after start, and where an actor added since lives (see admitNode, place). */
  | { readonly type: 'admitNode'; readonly node: NodeAddress }
  | { readonly type: 'place'; readonly name: ActorName; readonly node: string }
  /** Start an actor this node can make (NodeTransportOptions.spawn), placed here. */
  | { readonly type: 'spawn'; readonly name: ActorName }
  /** Stop an actor of this node for good and keep its data aside (NodeTransportOptions.retire): a removed member. */
  | { readonly type: 'retire'; readonly name: ActorName };

export interface NodeTransportOptions {
  readonly self: string;
  readonly nodes: readonly NodeAddress[];
  /** Address to listen on; defaults to this node's configured host. */
  readonly listenHost?: string;
  /** null only on loopback: then a well-known development secret is used and the transport says so. */
  readonly secret: Buffer | null;
  readonly tls?: TlsFiles;
  readonly limits?: Partial<ConnectionLimits>;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** Handshake slots and the pre-authentication byte bound (admission.ts). */
  readonly admission?: Partial<AdmissionLimits>;
  /**
   * Addresses allowed to connect besides those of the layout's nodes (resolved when listening), e.g. a peer
   * behind NAT. A socket from any other address is closed before a byte is read.
   */
  readonly allowFrom?: readonly string[];
  /** Least time between two resolutions of the layout's host names, started by a socket from an unknown address. */
  readonly allowListRefreshMs?: number;
  /** Resolves a host name of the layout to its addresses (default: the system resolver, all addresses). */
  readonly lookupHost?: (host: string) => Promise<string[]>;
  /** Asks awaiting a reply per peer node that are failed at once if its connection drops; beyond, they wait out their deadline. */
  readonly inFlightAsksMax?: number;
  readonly random?: () => number;
  /** Starts an actor this node was asked to run (a member added at run time); absent: such asks are refused. */
  readonly spawn?: (name: ActorName) => Promise<void>;
  /**
   * Stops an actor of this node for good and keeps its data under another name (a member removed from its group,
   * asked by the gateway that removed it); absent: such asks are refused.
   */
  readonly retire?: (name: ActorName) => Promise<void>;
  /**
   * Ms on which arriving asks get their deadlines and sent ones' time remaining is taken; it must be the clock of
   * the local ActorSystem and its workers (the default, ../clock.ts, is): they judge those deadlines.
   */
  readonly clock?: () => number;
  readonly log: Logger;
}

/** Nodes a cluster may hold, those of the layout and those admitted since. */
export const nodesMax = 64;
/** Actors one node may be asked to place or spawn at run time. */
export const placedActorsMax = 256;

export const systemNameOf = (node: string): ActorName => `$system@${node}`;
export const controlNameOf = (node: string): ActorName => `$node@${node}`;
const loopbackSecret = Buffer.from('pygmy-loopback-development-secret');

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** An ask sent to a peer node and not yet answered: enough to answer the local asker if the connection drops. */
interface InFlightAsk {
  /** The asker's local name (`$system` for the main endpoint). */
  readonly from: ActorName;
  readonly to: ActorName;
  readonly id: string;
  readonly deadlineAtMs: number;
}

interface PeerState {
  readonly address: NodeAddress;
  connection: Connection | null;
  dialing: boolean;
  attempt: number;
  redialTimer: NodeJS.Timeout | null;
  /** Keyed by asker and ask id; emptied when the connection drops. */
  readonly inFlight: Map<string, InFlightAsk>;
  /** Senders waiting for this node's connection to drain (or drop, or be replaced); called once each. */
  readonly drainListeners: Array<() => void>;
  /** Traffic of this peer's connections that have closed, and how many of its connections opened. */
  readonly closedTotals: LinkTotals;
  opens: number;
}

interface LinkTotals {
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
}

/** One peer link as the metrics read it: totals since this node started, the connection's state now. */
export interface PeerLinkFigures {
  readonly peer: string;
  readonly connected: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  /** Connections opened to the peer after the first (each one follows a drop). */
  readonly reconnects: number;
  readonly sendQueueBytes: number;
  /** The smoothed round trip of the open connection, measured on its heartbeats; null until known. */
  readonly roundTripMs: number | null;
}

/** A local worker's route to one remote name: the main-thread end of its channel, the NodeLink, a gate each way. */
interface WorkerRoute {
  readonly port: MessagePortLink;
  readonly link: NodeLink;
  /** Wire → worker, over the port. */
  readonly toWorker: DrainGate;
  /** Worker → wire, over the NodeLink. */
  readonly toWire: DrainGate;
}

const inFlightAsksMaxDefault = 65_536;
const allowListRefreshMsDefault = 5_000;
const lookupAll = async (host: string): Promise<string[]> => (await lookup(host, { all: true })).map((found) => found.address);
const remoteKey = (socket: Socket): string => `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? '?'}`;
const inFlightKey = (asker: ActorName, id: string): string => `${asker}\u0000${id}`;

export class NodeTransport implements RemotePeers {
  /** Remote actor names and main endpoints; grows when a node joins or an actor is placed on another node. */
  private readonly remoteNames: ActorName[];
  readonly counters = {
    invalid: 0,
    unreachable: 0,
    refusedConnections: 0,
    /** Sockets closed at once because their address is not allowed (part of refusedConnections). */
    refusedAddresses: 0,
    /** Handshakes closed to give their slot to a newer socket from the same (or the most crowded) address. */
    evictedHandshakes: 0,
    asksFailedOnDisconnect: 0,
    asksUntracked: 0,
    /** Asks from a peer that arrived with no time remaining (their asker had given up): dropped, not delivered. */
    asksExpired: 0,
    /** Envelopes held now for a busy connection or a busy worker port, waiting for its drain. */
    held: 0,
    /** Envelopes refused because linkHeldEnvelopesMax were held for their busy hop already (asks answered MAILBOX_FULL). */
    refusedBusy: 0,
  };
  private readonly options: NodeTransportOptions;
  private readonly clock: () => number;
  private readonly limits: ConnectionLimits;
  private readonly secret: Buffer;
  private readonly nodeOfName = new Map<ActorName, string>();
  private readonly localActors: Set<ActorName>;
  /** Nodes admitted after start (admitNode), with their addresses: part of the allow list from then on. */
  private readonly joined: NodeAddress[] = [];
  private placedActors = 0;
  private readonly peers = new Map<string, PeerState>();
  /** Local workers' routes to remote names, keyed by "remote\0local". */
  private readonly proxies = new Map<string, WorkerRoute>();
  /** The `$system` endpoint's links to remote names. */
  private readonly relays = new Map<ActorName, NodeLink>();
  private readonly admissionLimits: AdmissionLimits;
  /** Sockets accepted and not yet authenticated, by their raw TCP socket (under TLS, the one TLS wraps). */
  private readonly slots: HandshakeSlots<Socket>;
  /** The connection running on each admitted raw socket, once TLS (if any) is done. */
  private readonly handshaking = new Map<Socket, Connection>();
  private readonly preAuth: PreAuthLedger<Connection>;
  private readonly rawByRemote = new Map<string, Socket>();
  private allowList = new AddressAllowList([]);
  /** When the allow list was last resolved (performance.now ms), and whether a resolution is under way. */
  private allowListResolvedAtMs = -Infinity;
  private allowListResolving = false;
  private server: Server | null = null;
  private system: LocalSystem | null = null;
  private closed = false;

  constructor(options: NodeTransportOptions) {
    this.options = options;
    this.clock = options.clock ?? monotonicNowMs;
    this.limits = { ...connectionLimitsDefault, ...options.limits };
    this.admissionLimits = { ...admissionLimitsDefault, ...options.admission };
    checkAdmissionLimits(this.admissionLimits, frameHeaderBytes + preAuthFrameBytesMax);
    this.slots = new HandshakeSlots(this.admissionLimits);
    this.preAuth = new PreAuthLedger(this.admissionLimits.preAuthBytesMax);
    const self = options.nodes.find((node) => node.name === options.self);
    assert(self !== undefined, 'this node is not in the cluster layout', { self: options.self });
    const listenHost = options.listenHost ?? self.host;
    if (options.secret === null && !isLoopback(listenHost)) {
      throw new Error(`refusing to listen on ${listenHost} without a cluster secret (set PYGMY_CLUSTER_SECRET or secretFile)`);
    }
    assert(options.secret === null || options.secret.length >= 16, 'the cluster secret must be at least 16 bytes', { bytes: options.secret?.length });
    this.secret = options.secret ?? loopbackSecret;
    for (const address of options.allowFrom ?? []) assert(isIP(address) !== 0, 'allowFrom lists IP addresses only', { address });
    for (const node of options.nodes) {
      for (const actor of node.actors) {
        assert(!this.nodeOfName.has(actor), 'an actor is placed on two nodes', { actor });
        this.nodeOfName.set(actor, node.name);
      }
      this.nodeOfName.set(systemNameOf(node.name), node.name);
      this.nodeOfName.set(controlNameOf(node.name), node.name);
      if (node.name !== options.self) {
        this.peers.set(node.name, { address: node, connection: null, dialing: false, attempt: 0, redialTimer: null, inFlight: new Map(), drainListeners: [], closedTotals: { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 }, opens: 0 });
      }
    }
    this.localActors = new Set(self.actors);
    this.remoteNames = options.nodes.filter((node) => node.name !== options.self).flatMap((node) => [...node.actors, systemNameOf(node.name)]);
  }

  get names(): readonly ActorName[] {
    return this.remoteNames;
  }

  /** The node an actor or endpoint lives on, as far as this node knows; undefined when unknown. */
  nodeOf(name: ActorName): string | undefined {
    return this.nodeOfName.get(name);
  }

  /** Every node known here: the layout's and those admitted since. */
  knownNodes(): NodeAddress[] {
    return [...this.options.nodes, ...this.joined];
  }

  /**
   * A node that joined after this one started (a new host for a new member): it is dialed or accepted like a node
   * of the layout, authenticated by the same secret, and its address is allowed in. Known already: nothing to do.
   */
  async admitNode(node: NodeAddress): Promise<void> {
    if (node.name === this.options.self || this.peers.has(node.name)) return;
    assert(this.peers.size + 1 < nodesMax, 'too many nodes', { nodesMax });
    const peer: PeerState = { address: { ...node, actors: [] }, connection: null, dialing: false, attempt: 0, redialTimer: null, inFlight: new Map(), drainListeners: [], closedTotals: { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 }, opens: 0 };
    this.joined.push(peer.address);
    this.peers.set(node.name, peer);
    for (const name of [systemNameOf(node.name), controlNameOf(node.name)]) this.nodeOfName.set(name, node.name);
    this.attachRelay(controlNameOf(node.name));
    this.remoteNames.push(systemNameOf(node.name));
    this.allowList = await this.resolveAllowList();
    this.allowListResolvedAtMs = performance.now();
    this.options.log.info({ node: node.name, host: node.host, port: node.port, event: 'nodeAdmitted' }, `transport: ${node.name} (${node.host}:${node.port}) joined the cluster`);
    for (const actor of node.actors) await this.place(actor, node.name);
    if (this.server !== null && this.options.self < node.name) this.dial(peer);
  }

  /** `name` lives on `node` from now on (an actor added at run time): route it there, and give local workers a channel. */
  async place(name: ActorName, node: string): Promise<void> {
    const known = this.nodeOfName.get(name);
    if (known === node) return;
    assert(known === undefined, 'an actor is placed on two nodes', { name, known, node });
    assert(node === this.options.self || this.peers.has(node), 'an actor placed on an unknown node', { name, node });
    assert(this.placedActors < placedActorsMax, 'too many actors placed at run time', { placedActorsMax });
    this.placedActors += 1;
    this.nodeOfName.set(name, node);
    if (node === this.options.self) {
      this.localActors.add(name);
      return;
    }
    this.remoteNames.push(name);
    this.attachRelay(name);
    await this.system?.connectRemote?.(name);
  }

  private attachRelay(name: ActorName): void {
    this.system?.attach(name, (handlers) => {
      const link: NodeLink = new NodeLink(systemEndpointName, name, handlers, this.routeTo(name, () => systemNameOf(this.options.self)), () => {
        if (this.relays.get(name) === link) this.relays.delete(name);
      });
      this.relays.set(name, link);
      return link;
    });
  }

  /** Gives the main endpoint a route to every remote actor and control service; call before the system starts. */
  attachSystem(system: LocalSystem): void {
    this.system = system;
    for (const node of this.options.nodes) {
      if (node.name === this.options.self) continue;
      for (const name of [...node.actors, controlNameOf(node.name)]) this.attachRelay(name);
    }
  }

  /** RemotePeers: the main-thread end of a channel the local worker `local` knows as `remote`. */
  connect(local: ActorName, remote: ActorName, port: MessagePort): void {
    const key = `${remote}\u0000${local}`;
    this.closeWorkerRoute(key);
    const heldMax = linkHeldEnvelopesMaxDefault;
    const portLink: MessagePortLink = new MessagePortLink(remote, local, port, {
      onEnvelope: (envelope) => {
        if (!route.toWire.send(envelope)) this.refuseBusy(envelope, (reply) => route.toWorker.send(reply));
      },
      onInvalid: (problem, count) => this.countInvalid(local, problem, count),
      onClose: () => {
        if (this.proxies.get(key) === route) this.closeWorkerRoute(key);
      },
    });
    const nodeLink = new NodeLink(local, remote, {
      onEnvelope: (envelope) => {
        if (!route.toWorker.send(envelope)) this.refuseBusy(envelope, (reply) => route.toWire.send(reply));
      },
      onInvalid: (problem, count) => this.countInvalid(local, problem, count),
      onClose: () => undefined,
    }, this.routeTo(remote, (envelope) => envelope.from), () => undefined);
    const route: WorkerRoute = {
      port: portLink,
      link: nodeLink,
      toWorker: new DrainGate(portLink, heldMax, this.counters),
      toWire: new DrainGate(nodeLink, heldMax, this.counters),
    };
    this.proxies.set(key, route);
  }

  private closeWorkerRoute(key: string): void {
    const route = this.proxies.get(key);
    if (route === undefined) return;
    this.proxies.delete(key);
    route.port.close();
    route.link.close();
    route.toWorker.close();
    route.toWire.close();
  }

  /** The route of a link to the remote name `peer`; `wireFrom` is the name its envelopes carry on the wire. */
  private routeTo(peer: ActorName, wireFrom: (envelope: Envelope) => ActorName): NodeRoute {
    return {
      send: (envelope) => this.forward(envelope, wireFrom(envelope)),
      onDrain: (listener) => this.onNodeDrain(peer, listener),
      flush: () => this.connectionOf(peer)?.flush(),
    };
  }

  private connectionOf(name: ActorName): Connection | null {
    const node = this.nodeOfName.get(name);
    return (node === undefined ? undefined : this.peers.get(node)?.connection) ?? null;
  }

  private onNodeDrain(name: ActorName, listener: () => void): void {
    const node = this.nodeOfName.get(name);
    const peer = node === undefined ? undefined : this.peers.get(node);
    if (peer === undefined) queueMicrotask(listener); // no such node: forward answers at once, never busy
    else peer.drainListeners.push(listener);
  }

  /** The node's connection drained, dropped or was replaced: every sender waiting on it may send again. */
  private drained(peer: PeerState): void {
    const listeners = peer.drainListeners.splice(0, peer.drainListeners.length);
    for (const listener of listeners) listener();
  }

  /** An envelope refused because its next hop is busy with linkHeldEnvelopesMax held: counted; an ask is answered. */
  private refuseBusy(envelope: Envelope, answer: (reply: Envelope) => void): void {
    this.counters.refusedBusy += 1;
    if (envelope.kind !== 'ask') return;
    const error = toErrorData(new MailboxFullError(`the route from ${envelope.from} to ${envelope.to} is busy`));
    answer({ kind: 'reply', from: envelope.to, to: envelope.from, id: envelope.id, body: null, error });
  }

  async listen(): Promise<{ host: string; port: number }> {
    const self = this.options.nodes.find((node) => node.name === this.options.self)!;
    const host = this.options.listenHost ?? self.host;
    this.allowList = await this.resolveAllowList();
    this.allowListResolvedAtMs = performance.now();
    assert(this.allowList.size <= this.admissionLimits.handshakesMax, 'more allowed addresses than handshake slots: raise admission.handshakesMax', {
      addresses: this.allowList.size,
      handshakesMax: this.admissionLimits.handshakesMax,
    });
    const tls = this.options.tls;
    const server = tls === undefined
      ? createServer((socket) => {
        if (this.admit(socket)) this.accept(socket, socket);
      })
      : this.createTlsListener(tls, (socket) => this.accept(socket, this.rawSocketOf(socket)));
    // Under TLS, admission runs on the raw socket before TLS reads a byte of it.
    if (tls !== undefined) server.prependListener('connection', (socket: Socket) => void this.admit(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(self.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.options.log.error({ error: error.message }, `transport: server error: ${error.message}`));
    if (this.options.secret === null) this.options.log.warn({ event: 'transport-insecure' }, 'transport: no cluster secret; loopback only, with the development secret');
    const address = server.address();
    assert(typeof address === 'object' && address !== null, 'server has no address');
    for (const peer of this.peers.values()) if (this.options.self < peer.address.name) this.dial(peer);
    return { host: address.address, port: address.port };
  }

  /**
   * A socket reaches `accept` (and the connection's handshake deadline) only after TLS succeeded, so the TLS
   * handshake needs its own deadline (node's default is 120 s), and on that timeout node only reports the error.
   * A refused handshake (foreign CA, plain TCP, timeout) is logged and closed like any other refused connection.
   */
  private createTlsListener(tls: TlsFiles, onSocket: (socket: Socket) => void): Server {
    const server = createTlsServer({
      cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: readFileSync(tls.ca), requestCert: true, rejectUnauthorized: true,
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    }, onSocket);
    server.on('tlsClientError', (error, socket) => {
      this.counters.refusedConnections += 1;
      this.options.log.warn({ remote: socket.remoteAddress, error: error.message, event: 'transport-tls-refused' }, `transport: TLS handshake refused: ${error.message}`);
      socket.destroy(); // Node reports a handshake timeout here but leaves the socket open.
    });
    return server;
  }

  /**
   * The addresses of the other nodes of the layout (names resolved now), and `allowFrom`. Not this node's own
   * address: a connection from it is another process of this host, a stranger unless a peer lives there too.
   */
  private async resolveAllowList(): Promise<AddressAllowList> {
    const addresses = new Set<string>(this.options.allowFrom ?? []);
    for (const node of this.knownNodes()) {
      if (node.name === this.options.self) continue;
      if (isIP(node.host) !== 0) {
        addresses.add(node.host);
        continue;
      }
      try {
        for (const found of await (this.options.lookupHost ?? lookupAll)(node.host)) addresses.add(found);
      } catch (error) {
        this.options.log.warn({ node: node.name, host: node.host, event: 'transport-unresolved' }, `transport: cannot resolve ${node.host} (${node.name}); no connection from it will be accepted: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return new AddressAllowList(addresses);
  }

  /**
   * Gives an accepted raw socket a handshake slot, or closes it: at once when its address is not allowed or no
   * slot can be had; a socket whose slot a newer one takes is closed then. True when admitted.
   */
  private admit(raw: Socket): boolean {
    if (this.closed || !this.allowList.allows(raw.remoteAddress)) {
      this.counters.refusedConnections += 1;
      if (!this.closed) {
        this.counters.refusedAddresses += 1;
        this.refreshAllowList();
      }
      raw.destroy();
      return false;
    }
    const admission = this.slots.admit(raw, raw.remoteAddress!);
    if (admission.kind === 'refused') {
      this.counters.refusedConnections += 1;
      raw.destroy();
      return false;
    }
    for (const evicted of admission.evicted) {
      this.counters.evictedHandshakes += 1;
      const connection = this.handshaking.get(evicted);
      if (connection !== undefined) connection.close('handshake slot given to a newer connection from the same address');
      else evicted.destroy();
    }
    this.rawByRemote.set(remoteKey(raw), raw);
    raw.once('close', () => {
      this.slots.release(raw);
      if (this.rawByRemote.get(remoteKey(raw)) === raw) this.rawByRemote.delete(remoteKey(raw));
    });
    return true;
  }

  /** The raw socket under a TLS socket (same remote address and port), if it still holds its slot. */
  private rawSocketOf(socket: Socket): Socket | null {
    const raw = this.rawByRemote.get(remoteKey(socket));
    return raw !== undefined && this.slots.holds(raw) ? raw : null;
  }

  /**
   * A socket from an unknown address may be a peer whose name did not resolve yet, or resolves elsewhere now (a
   * container started later, or restarted with another address): the names are resolved again, at most once per
   * allowListRefreshMs, and the peer gets in on its next dial.
   */
  private refreshAllowList(): void {
    const nowMs = performance.now();
    if (this.allowListResolving || nowMs - this.allowListResolvedAtMs < (this.options.allowListRefreshMs ?? allowListRefreshMsDefault)) return;
    this.allowListResolving = true;
    this.allowListResolvedAtMs = nowMs;
    void this.resolveAllowList().then((allowList) => {
      this.allowListResolving = false;
      this.allowList = allowList;
    });
  }

  /** Bytes held now, in all, for connections that have not authenticated; and the most ever held. */
  preAuthBytes(): { held: number; peak: number; handshakes: number } {
    return { held: this.preAuth.heldBytes, peak: this.preAuth.peakBytes, handshakes: this.slots.size };
  }

  /** Nodes with an open, authenticated connection. */
  connectedNodes(): string[] {
    return [...this.peers.values()].filter((peer) => peer.connection?.isOpen === true).map((peer) => peer.address.name);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const peer of this.peers.values()) {
      if (peer.redialTimer !== null) clearTimeout(peer.redialTimer);
      peer.connection?.close('closed by this node');
    }
    for (const connection of [...this.handshaking.values()]) connection.close('closed by this node');
    for (const key of [...this.proxies.keys()]) this.closeWorkerRoute(key);
    for (const peer of this.peers.values()) peer.drainListeners.length = 0;
    const server = this.server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** `raw` is the admitted TCP socket under `socket` (itself without TLS); null when it lost its slot meanwhile. */
  private accept(socket: Socket, raw: Socket | null): void {
    if (this.closed || raw === null) {
      this.counters.refusedConnections += 1;
      socket.destroy();
      return;
    }
    const connection = this.makeConnection(socket, null, raw);
    this.handshaking.set(raw, connection);
  }

  private dial(peer: PeerState): void {
    if (this.closed || peer.dialing || peer.connection !== null) return;
    peer.dialing = true;
    const { host, port } = peer.address;
    const tls = this.options.tls;
    const socket = tls === undefined
      ? connectTcp({ host, port })
      : connectTls({ host, port, cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: readFileSync(tls.ca), servername: peer.address.name, checkServerIdentity: () => undefined });
    socket.once('error', () => undefined); // Reported through the connection's close.
    peer.connection = this.makeConnection(socket, peer.address.name, null);
  }

  /** `raw` is the admitted socket of an accepted connection (null for one this node dialed). */
  private makeConnection(socket: Socket, expectedPeer: string | null, raw: Socket | null): Connection {
    return new Connection({
      socket,
      selfNode: this.options.self,
      expectedPeer,
      // Only the lower-named node dials, so an accepted peer must sort below this node.
      acceptPeer: (node) => this.peers.has(node) && node < this.options.self,
      secret: this.secret,
      limits: this.limits,
      clock: this.clock,
      log: this.options.log,
      onEnvelopes: (connection, envelopes) => this.onEnvelopes(connection, envelopes),
      onInvalid: (connection, problem, count) => this.countInvalid(connection.peer ?? connection.remoteAddress, problem, count),
      onDrain: (connection) => {
        const peer = connection.peer === null ? undefined : this.peers.get(connection.peer);
        if (peer !== undefined && peer.connection === connection) this.drained(peer);
      },
      onClose: (connection) => this.onClose(connection, expectedPeer, raw),
      onOpen: (connection) => this.onOpen(connection, raw),
      ...(raw === null ? {} : { onPreAuthBytes: (connection: Connection, bytes: number) => this.preAuth.hold(connection, bytes) }),
    });
  }

  /** The peer authenticated: its slot and its pre-auth bytes are free again. */
  private releaseHandshake(connection: Connection, raw: Socket | null): void {
    this.preAuth.release(connection);
    if (raw === null) return;
    this.slots.release(raw);
    if (this.handshaking.get(raw) === connection) this.handshaking.delete(raw);
  }

  private onOpen(connection: Connection, raw: Socket | null): void {
    this.releaseHandshake(connection, raw);
    const peer = this.peers.get(connection.peer!)!;
    if (peer.connection !== null && peer.connection !== connection) peer.connection.close('replaced by a newer connection from the same node');
    peer.connection = connection;
    peer.dialing = false;
    peer.attempt = 0;
    this.drained(peer);
    peer.opens += 1;
  }

  /** Every peer link: bytes and frames both ways, reconnects, the send queue (read by the metrics at a scrape). */
  linkFigures(): PeerLinkFigures[] {
    return [...this.peers.entries()].map(([name, peer]) => {
      const open = peer.connection?.counters;
      const totals = peer.closedTotals;
      return {
        peer: name,
        connected: peer.connection?.isOpen ?? false,
        bytesSent: totals.bytesSent + (open?.bytesSent ?? 0),
        bytesReceived: totals.bytesReceived + (open?.bytesReceived ?? 0),
        framesSent: totals.framesSent + (open?.framesSent ?? 0),
        framesReceived: totals.framesReceived + (open?.framesReceived ?? 0),
        reconnects: Math.max(0, peer.opens - 1),
        sendQueueBytes: peer.connection?.sendQueueBytes ?? 0,
        roundTripMs: peer.connection?.isOpen === true ? (peer.connection.roundTrip?.smoothedMs ?? null) : null,
      };
    });
  }

  private onClose(connection: Connection, expectedPeer: string | null, raw: Socket | null): void {
    this.releaseHandshake(connection, raw);
    const name = connection.authenticatedPeer ?? expectedPeer; // closed already: `peer` is null by now
    const peer = name === null ? undefined : this.peers.get(name);
    if (peer !== undefined) {
      // Its traffic stays in the peer's totals, replaced connections' included.
      peer.closedTotals.bytesSent += connection.counters.bytesSent;
      peer.closedTotals.bytesReceived += connection.counters.bytesReceived;
      peer.closedTotals.framesSent += connection.counters.framesSent;
      peer.closedTotals.framesReceived += connection.counters.framesReceived;
    }
    if (peer === undefined || peer.connection !== connection) return;
    peer.connection = null;
    peer.dialing = false;
    this.failInFlight(peer);
    this.drained(peer); // what waited for this connection is answered now as unreachable, not held until a reconnect
    if (!this.closed && this.options.self < peer.address.name) this.scheduleRedial(peer);
  }

  /**
   * The connection to a peer dropped: no reply can come back over it, so every ask still waiting on that node is
   * answered now instead of at its deadline. Whether the target acted on it is unknown (as when a local actor's
   * thread ends mid-ask); Pygmy's writes are idempotent, so the asker may retry elsewhere.
   */
  private failInFlight(peer: PeerState): void {
    const nowMs = this.clock();
    const asks = [...peer.inFlight.values()];
    peer.inFlight.clear();
    for (const ask of asks) {
      if (ask.deadlineAtMs <= nowMs) continue; // The asker has given up already.
      this.counters.asksFailedOnDisconnect += 1;
      this.answerLocally(ask, `the connection to ${peer.address.name} dropped before ${ask.to} answered`);
    }
  }

  /** Remembers an ask sent to `peer`, within the bound (dropping expired entries first when it is reached). */
  private trackAsk(peer: PeerState, ask: Extract<Envelope, { kind: 'ask' }>): void {
    const inFlightMax = this.options.inFlightAsksMax ?? inFlightAsksMaxDefault;
    if (peer.inFlight.size >= inFlightMax) {
      const nowMs = this.clock();
      for (const [key, tracked] of peer.inFlight) if (tracked.deadlineAtMs <= nowMs) peer.inFlight.delete(key);
    }
    if (peer.inFlight.size >= inFlightMax) {
      this.counters.asksUntracked += 1;
      return;
    }
    peer.inFlight.set(inFlightKey(ask.from, ask.id), { from: ask.from, to: ask.to, id: ask.id, deadlineAtMs: ask.deadlineAtMs });
  }

  /** Exponential backoff with full jitter, bounded by reconnectMaxMs. */
  private scheduleRedial(peer: PeerState): void {
    const initialMs = this.options.reconnectInitialMs ?? 100;
    const maxMs = this.options.reconnectMaxMs ?? 2_000;
    const ceilingMs = Math.min(maxMs, initialMs * 2 ** Math.min(peer.attempt, 16));
    const delayMs = Math.round(ceilingMs * (0.5 + 0.5 * (this.options.random ?? Math.random)()));
    peer.attempt += 1;
    peer.redialTimer = setTimeout(() => {
      peer.redialTimer = null;
      this.dial(peer);
    }, delayMs);
  }

  /**
   * Local → wire. `from` is the name the envelope carries on the wire. False: the connection is busy (the
   * envelope was still queued). An envelope for an unreachable node is counted, and an ask answered, at once.
   */
  private forward(envelope: Envelope, from: ActorName): boolean {
    const node = this.nodeOfName.get(envelope.to);
    const peer = node === undefined ? undefined : this.peers.get(node);
    const connection = peer?.connection;
    if (peer === undefined || connection === null || connection === undefined || !connection.isOpen) {
      this.counters.unreachable += 1;
      if (envelope.kind === 'ask') this.answerLocally(envelope, `${envelope.to} is on ${node ?? 'no node'}, which is unreachable`);
      return true;
    }
    if (envelope.kind === 'ask') this.trackAsk(peer, envelope);
    return connection.send(from === envelope.from ? envelope : { ...envelope, from });
  }

  /** Answers a local asker at once, with ActorUnavailableError, that its remote target cannot answer. */
  private answerLocally(ask: { readonly from: ActorName; readonly to: ActorName; readonly id: string }, why: string): void {
    const error = toErrorData(new ActorUnavailableError(why));
    if (ask.from === systemEndpointName) {
      this.relays.get(ask.to)?.deliver({ kind: 'reply', from: ask.to, to: systemEndpointName, id: ask.id, body: null, error });
      return;
    }
    this.proxies.get(`${ask.to}\u0000${ask.from}`)?.toWorker.send({ kind: 'reply', from: ask.to, to: ask.from, id: ask.id, body: null, error });
  }

  /** Wire → local, after checking the peer speaks only for its own names and only to ours. */
  private onEnvelopes(connection: Connection, envelopes: Envelope[]): void {
    const peerNode = connection.peer!;
    const nowMs = this.clock();
    for (const envelope of envelopes) {
      if (this.nodeOfName.get(envelope.from) !== peerNode) {
        this.countInvalid(peerNode, `${peerNode} sent a message as ${envelope.from}`, 1);
        continue;
      }
      if (envelope.kind === 'ask' && envelope.deadlineAtMs <= nowMs) {
        this.counters.asksExpired += 1; // no time remained when it was sent: its asker has given up
        continue;
      }
      if (envelope.kind === 'reply') this.settleInFlight(peerNode, envelope);
      if (envelope.to === controlNameOf(this.options.self)) this.serveControl(connection, envelope);
      else if (envelope.to === systemNameOf(this.options.self)) this.relays.get(envelope.from)?.deliver({ ...envelope, to: systemEndpointName });
      else if (this.localActors.has(envelope.to)) this.deliverToWorker(connection, envelope);
      else this.countInvalid(peerNode, `${peerNode} sent a message to ${envelope.to}, which does not live here`, 1);
    }
  }

  /** A reply came back: its ask is no longer in flight. */
  private settleInFlight(peerNode: string, reply: Extract<Envelope, { kind: 'reply' }>): void {
    const asker = reply.to === systemNameOf(this.options.self) ? systemEndpointName : reply.to;
    this.peers.get(peerNode)?.inFlight.delete(inFlightKey(asker, reply.id));
  }

  private deliverToWorker(connection: Connection, envelope: Envelope): void {
    const route = this.proxies.get(`${envelope.from}\u0000${envelope.to}`);
    if (route !== undefined) {
      route.link.deliver(envelope);
      return;
    }
    this.counters.unreachable += 1;
    if (envelope.kind !== 'ask') return;
    const error = toErrorData(new ActorUnavailableError(`${envelope.to} is stopped or restarting on ${this.options.self}`));
    connection.send({ kind: 'reply', from: envelope.to, to: envelope.from, id: envelope.id, body: null, error });
  }

  private serveControl(connection: Connection, envelope: Envelope): void {
    if (envelope.kind !== 'ask' || envelope.from !== systemNameOf(connection.peer!)) {
      return this.countInvalid(connection.peer!, `control message from ${envelope.from} refused`, 1);
    }
    const reply = (body: unknown, error: unknown) =>
      connection.send({ kind: 'reply', from: envelope.to, to: envelope.from, id: envelope.id, body: body ?? null, error: error === null ? null : toErrorData(error) });
    this.runControl(envelope.body).then((body) => reply(body, null), (error: unknown) => reply(null, error));
  }

  private async runControl(body: unknown): Promise<unknown> {
    const system = this.system;
    assert(system !== null, 'control request before attachSystem');
    const request = parseControlRequest(body);
    if (request === null) throw new Error('invalid control request');
    switch (request.type) {
      case 'status':
        return system.status();
      case 'admitNode':
        return this.admitNode(request.node);
      case 'place':
        if (request.node !== this.options.self && !this.peers.has(request.node)) throw new ActorUnavailableError(`${request.node} is not a node known to ${this.options.self}`);
        return this.place(request.name, request.node);
      case 'spawn':
        if (this.options.spawn === undefined) throw new ActorUnavailableError(`${this.options.self} starts no actors on request`);
        await this.place(request.name, this.options.self);
        return this.options.spawn(request.name);
      case 'retire':
        if (!this.localActors.has(request.name)) throw new ActorUnavailableError(`no actor named ${request.name} on ${this.options.self}`);
        if (this.options.retire === undefined) throw new ActorUnavailableError(`${this.options.self} retires no actors on request`);
        return this.options.retire(request.name);
      default:
        return this.operate(system, request);
    }
  }

  private operate(system: LocalSystem, request: Extract<NodeControlRequest, { name: ActorName; type: 'kill' | 'stop' | 'start' | 'isolate' | 'heal' }>): Promise<void> {
    if (!this.localActors.has(request.name)) throw new ActorUnavailableError(`no actor named ${request.name} on ${this.options.self}`);
    switch (request.type) {
      case 'kill':
        return system.kill(request.name);
      case 'stop':
        return system.stop(request.name);
      case 'start':
        return system.startActor(request.name);
      case 'isolate':
        return system.isolate(request.name);
      case 'heal':
        return system.heal(request.name);
    }
  }

  private countInvalid(peer: string, problem: string, count: number): void {
    this.counters.invalid += count;
    this.options.log.warn({ peer, problem, count, event: 'transport-invalid' }, `transport: discarded ${count} invalid message(s) from ${peer}: ${problem}`);
  }
}

const isNodeName = (value: unknown): value is string => typeof value === 'string' && /^[a-z0-9][a-z0-9-]{0,31}$/.test(value);
const isActorName = (value: unknown): value is string => typeof value === 'string' && /^[a-z0-9][a-z0-9-]{0,63}$/.test(value);

function parseNodeAddress(value: unknown): NodeAddress | null {
  if (typeof value !== 'object' || value === null) return null;
  const node = value as Record<string, unknown>;
  if (!isNodeName(node.name) || typeof node.host !== 'string' || node.host.length === 0 || node.host.length > 253) return null;
  if (!Number.isInteger(node.port) || (node.port as number) < 1 || (node.port as number) > 65535) return null;
  if (!Array.isArray(node.actors) || node.actors.length > placedActorsMax || !node.actors.every(isActorName)) return null;
  return { name: node.name, host: node.host, port: node.port as number, actors: [...node.actors] };
}

function parseControlRequest(body: unknown): NodeControlRequest | null {
  if (typeof body !== 'object' || body === null) return null;
  const request = body as Record<string, unknown>;
  if (request.type === 'status') return { type: 'status' };
  if (request.type === 'admitNode') {
    const node = parseNodeAddress(request.node);
    return node === null ? null : { type: 'admitNode', node };
  }
  if (request.type === 'place') return isActorName(request.name) && isNodeName(request.node) ? { type: 'place', name: request.name, node: request.node } : null;
  if (request.type === 'spawn') return isActorName(request.name) ? { type: 'spawn', name: request.name } : null;
  if (request.type === 'retire') return isActorName(request.name) ? { type: 'retire', name: request.name } : null;
  const actions = ['kill', 'stop', 'start', 'isolate', 'heal'] as const;
  const type = actions.find((action) => action === request.type);
  if (type === undefined || typeof request.name !== 'string') return null;
  return { type, name: request.name };
}
