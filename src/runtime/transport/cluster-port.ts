// The whole cluster seen from one node's main thread: asks routed by name wherever the actor lives, and the
// supervisor operations (status, kill, stop, start, isolate, heal) forwarded to the node that owns the actor.
//
// Owns nothing but the routing decision. Promises: the same shape as ActorSystem's own methods, so a gateway can
// use either; `status()` lists every actor of the layout in layout order, and an actor whose node does not
// answer is reported down (alive false, state 'failed') instead of failing the whole call.
// Needs: the local ActorSystem (its `$system` endpoint already routes remote names through the NodeTransport).

import type { ActorName, AskOptions } from '../actor.js';
import type { ActorStatus } from '../system.js';
import { controlNameOf, type LocalSystem, type NodeAddress, type NodeControlRequest } from './node-transport.js';

export interface ClusterPortOptions {
  readonly self: string;
  readonly nodes: readonly NodeAddress[];
  readonly system: LocalSystem & { ask<R>(target: ActorName, message: unknown, options?: AskOptions): Promise<R> };
  readonly controlTimeoutMs?: number;
}

export class ClusterPort {
  private readonly options: ClusterPortOptions;
  private readonly nodeOfActor = new Map<ActorName, string>();
  /** The layout's nodes, then those that joined since (join). */
  private readonly nodes: NodeAddress[];

  constructor(options: ClusterPortOptions) {
    this.options = options;
    this.nodes = [...options.nodes];
    for (const node of options.nodes) for (const actor of node.actors) this.nodeOfActor.set(actor, node.name);
  }

  /** A node that joined, or an actor placed since start: status and operations reach it from now on. */
  placed(actor: ActorName, node: NodeAddress): void {
    if (!this.nodes.some((known) => known.name === node.name)) this.nodes.push({ ...node, actors: [] });
    const index = this.nodes.findIndex((known) => known.name === node.name);
    const known = this.nodes[index]!;
    if (!known.actors.includes(actor)) this.nodes[index] = { ...known, actors: [...known.actors, actor] };
    this.nodeOfActor.set(actor, node.name);
  }

  nodeOf(actor: ActorName): string {
    return this.nodeOfActor.get(actor) ?? 'unknown';
  }

  ask<R = unknown>(target: ActorName, message: unknown, options?: AskOptions): Promise<R> {
    return this.options.system.ask<R>(target, message, options);
  }

  async status(): Promise<ActorStatus[]> {
    const perNode = await Promise.all(this.nodes.map((node) => this.nodeStatus(node)));
    return perNode.flat();
  }

  kill(name: ActorName): Promise<void> {
    return this.operate({ type: 'kill', name }, () => this.options.system.kill(name));
  }

  stop(name: ActorName): Promise<void> {
    return this.operate({ type: 'stop', name }, () => this.options.system.stop(name));
  }

  startActor(name: ActorName): Promise<void> {
    return this.operate({ type: 'start', name }, () => this.options.system.startActor(name));
  }

  isolate(name: ActorName): Promise<void> {
    return this.operate({ type: 'isolate', name }, () => this.options.system.isolate(name));
  }

  heal(name: ActorName): Promise<void> {
    return this.operate({ type: 'heal', name }, () => this.options.system.heal(name));
  }

  /** A control request to `node`'s control service (node-transport.ts NodeControlRequest). */
  control(node: string, request: NodeControlRequest, timeoutMs?: number): Promise<unknown> {
    return this.options.system.ask(controlNameOf(node), request, { timeoutMs: timeoutMs ?? this.options.controlTimeoutMs ?? 10_000 });
  }

  private async operate(request: Extract<NodeControlRequest, { type: 'kill' | 'stop' | 'start' | 'isolate' | 'heal' }>, local: () => Promise<void>): Promise<void> {
    const node = this.nodeOfActor.get(request.name);
    if (node === undefined || node === this.options.self) return local(); // The local system names unknown actors in its error.
    await this.options.system.ask(controlNameOf(node), request, { timeoutMs: this.options.controlTimeoutMs ?? 10_000 });
  }

  private async nodeStatus(node: NodeAddress): Promise<ActorStatus[]> {
    if (node.name === this.options.self) return this.options.system.status();
    try {
      return await this.options.system.ask<ActorStatus[]>(controlNameOf(node.name), { type: 'status' }, { timeoutMs: this.options.controlTimeoutMs ?? 2_000 });
    } catch {
      return node.actors.map((name): ActorStatus => ({ name, alive: false, state: 'failed', restarts: 0, isolated: false, mailboxDepth: 0, processed: 0, dropped: 0, deadLetters: 0, invalid: 0 }));
    }
  }
}
