// The channel mesh: a MessageChannel between every pair of endpoints (each child's worker, and the main thread
// as `$system`), and the isolation flags that ride on it.
//
// Owns: nothing but the decisions of who gets which port; the pairs already wired are kept on the child handles
// (`wiredPeers`, both sides in step). Promises: a new worker gets a port to the main thread, to every live peer
// (each pair wired once, even when two start at once), to every remote name, and its own and its peers'
// isolation flags; a worker that exits is forgotten by the main endpoint and by every live peer; isolation is
// applied at the main endpoint, at the child and at every live peer. Every control call is bounded by the
// handle (controlTimeoutMs); a peer's failure is logged, never thrown into the child's start.
// Needs: the main thread's endpoint, the children in start order, and the transport to remote names, if any.

import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import type { ActorName } from './actor.js';
import type { ChildControl, ChildHandle } from './child.js';
import type { Endpoint } from './endpoint.js';
import type { RemotePeers } from './system.js';
import { systemEndpointName } from './wire.js';

export interface MeshOptions {
  readonly endpoint: Endpoint;
  /** The children in start order; those with a live worker are wired to each other. */
  readonly children: () => readonly ChildHandle[];
  readonly remote: RemotePeers | undefined;
  readonly onControlFailure: (error: unknown) => void;
}

export class ChannelMesh {
  private readonly options: MeshOptions;

  constructor(options: MeshOptions) {
    this.options = options;
  }

  /** Gives the new worker a port to the main thread and to every live peer, and its isolation flags. */
  async wire(child: ChildHandle, control: ChildControl): Promise<void> {
    const name = child.name;
    const toSystem = new MessageChannel();
    this.options.endpoint.connect(name, toSystem.port1);
    await child.call(`connect ${name}`, () => control.connect(systemEndpointName, Comlink.transfer(toSystem.port2, [toSystem.port2])));
    const calls: Promise<unknown>[] = [];
    for (const peer of this.liveChildren()) {
      // Two children starting at once both see each other; the first to get here wires the pair, once.
      if (peer === child || child.wiredPeers.has(peer.name)) continue;
      child.wiredPeers.add(peer.name);
      peer.wiredPeers.add(name);
      const channel = new MessageChannel();
      calls.push(peer.call(`connect ${peer.name} to ${name}`, (peerControl) => peerControl.connect(name, Comlink.transfer(channel.port1, [channel.port1])))
        .catch((error) => this.options.onControlFailure(error)));
      calls.push(child.call(`connect ${name} to ${peer.name}`, () => control.connect(peer.name, Comlink.transfer(channel.port2, [channel.port2]))));
      if (peer.isolated) calls.push(child.call(`isolate ${peer.name}`, () => control.setPeerIsolated(peer.name, true)));
    }
    for (const remote of this.options.remote?.names ?? []) {
      const channel = new MessageChannel();
      calls.push(child.call(`connect ${name} to ${remote}`, () => control.connect(remote, Comlink.transfer(channel.port2, [channel.port2]))));
      this.options.remote?.connect(name, remote, channel.port1);
    }
    if (child.isolated) calls.push(child.call(`isolate ${name}`, () => control.setIsolated(true)));
    await Promise.all(calls);
  }

  /** A remote name that appeared after start: every live child gets a channel to it now. */
  async connectRemote(remote: ActorName): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (const child of this.liveChildren()) {
      const channel = new MessageChannel();
      calls.push(child.call(`connect ${child.name} to ${remote}`, (control) => control.connect(remote, Comlink.transfer(channel.port2, [channel.port2])))
        .catch((error) => this.options.onControlFailure(error)));
      this.options.remote?.connect(child.name, remote, channel.port1);
    }
    await Promise.all(calls);
  }

  /** The worker of `name` exited: the main endpoint and every live peer forget their channel to it. */
  unwire(name: ActorName): void {
    this.options.endpoint.disconnect(name);
    for (const peer of this.liveChildren()) {
      peer.wiredPeers.delete(name);
      peer.control?.disconnect(name).catch(() => undefined);
    }
  }

  /** Drops every data message to and from the child, both directions, at every endpoint; or stops doing so. */
  async setIsolation(child: ChildHandle, isolated: boolean): Promise<void> {
    const name = child.name;
    child.isolated = isolated;
    this.options.endpoint.setPeerIsolated(name, isolated);
    const calls: Promise<unknown>[] = [];
    if (child.control !== null) calls.push(child.call(`isolate ${name}`, (control) => control.setIsolated(isolated)));
    for (const peer of this.liveChildren()) {
      if (peer !== child) calls.push(peer.call(`isolate ${name} at ${peer.name}`, (control) => control.setPeerIsolated(name, isolated)));
    }
    await Promise.all(calls.map((call) => call.catch((error) => this.options.onControlFailure(error))));
  }

  /** Children with a worker (starting or running): the ones a newly started child must be wired to. */
  private liveChildren(): ChildHandle[] {
    return this.options.children().filter((child) => child.control !== null);
  }
}
