// comlink ships its Node adapter as a bare .mjs file without a matching .d.mts, so TypeScript cannot see its
// types under NodeNext resolution; this declaration states the one function Pygmy uses.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(endpoint: unknown): Endpoint;
}
