// `pygmy member list|add|remove --group catalog|order [NAME] [--node NODE] [--learner] [--gateway URL]`: a group's
// membership through the gateway's admin routes (GET and POST /admin/groups/:group/members, DELETE
// /admin/groups/:group/members/:name). `add` starts a new member as a learner and promotes it once caught up
// (`--learner` keeps it one); `--node` names its host in a multi-host cluster.
// PYGMY_ADMIN_TOKEN, when set, goes as the bearer token. Prints the configuration (voters, learners, leader,
// configIndex) as the gateway answers it; exit 0 on success, 1 when the gateway refuses or cannot be reached, 2 on
// a usage mistake. Each request is bounded by --timeout-ms (default 30000).
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

const usage = 'usage: pygmy member list|add|remove --group catalog|order [NAME] [--node NODE] [--learner] [--gateway http://127.0.0.1:34800] [--timeout-ms 30000]';

interface MembersAnswer {
  readonly ok: boolean;
  readonly result?: { voters: string[]; learners: string[]; leader: string | null; configIndex: number };
  readonly error?: string;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      group: { type: 'string' },
      node: { type: 'string' },
      learner: { type: 'boolean' },
      gateway: { type: 'string' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [action, name, ...extra] = positionals;
  if (action !== 'list' && action !== 'add' && action !== 'remove') throw new UsageError(`the action must be list, add or remove, got "${action ?? ''}"`);
  const group = values.group;
  if (group !== 'catalog' && group !== 'order') throw new UsageError(`--group must be catalog or order, got "${group ?? ''}"`);
  if (action !== 'list' && name === undefined) throw new UsageError(`${action} needs the member's NAME`);
  if (action !== 'add' && (values.node !== undefined || values.learner === true)) throw new UsageError('--node and --learner go with add');
  if (extra.length > 0 || (action === 'list' && name !== undefined)) throw new UsageError(`unexpected arguments: ${[name, ...extra].filter(Boolean).join(' ')}`);
  const timeoutMs = Number(values['timeout-ms'] ?? 30_000);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout-ms must be a positive integer, got "${values['timeout-ms']}"`);
  const gateway = (values.gateway ?? 'http://127.0.0.1:34800').replace(/\/+$/, '');
  const path = `/admin/groups/${group}/members${action === 'remove' ? `/${encodeURIComponent(name!)}` : ''}`;
  const body = action === 'add'
    ? JSON.stringify({ name, ...(values.node === undefined ? {} : { node: values.node }), ...(values.learner === true ? { promote: false } : {}) })
    : undefined;
  const token = process.env.PYGMY_ADMIN_TOKEN;
  let response: Response;
  try {
    response = await fetch(`${gateway}${path}`, {
      method: action === 'remove' ? 'DELETE' : action === 'add' ? 'POST' : 'GET',
      headers: {
        ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    console.error(`pygmy member: ${gateway} did not answer: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const text = await response.text();
  let answer: MembersAnswer | null = null;
  try {
    answer = JSON.parse(text) as MembersAnswer;
  } catch {
    answer = null;
  }
  if (!response.ok || answer === null || !answer.ok || answer.result === undefined) {
    console.error(`pygmy member: ${response.status} ${answer?.error ?? text.slice(0, 200)}`);
    return 1;
  }
  const view = answer.result;
  if (action === 'remove') console.log(`${name} removed from the ${group} group`);
  if (action === 'add') console.log(`${name} added to the ${group} group${values.learner === true ? ' as a learner' : ''}`);
  console.log(`${group}: voters ${view.voters.join(', ')}; learners ${view.learners.join(', ') || 'none'}; leader ${view.leader ?? 'none'}; configIndex ${view.configIndex}`);
  return 0;
}
