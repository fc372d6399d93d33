// The Pygmy dashboard in the browser: reads the gateway's snapshot stream (/events) and draws replica cards,
// gateway charts and the event feed; its buttons call the admin routes and the bookstore routes.
//
// No library and no build step. Everything shown is built with DOM calls (never innerHTML with data), so the
// strict Content-Security-Policy of the page holds. The stream is read with fetch rather than EventSource because
// /events needs an Authorization header whenever an admin token is set, which EventSource cannot send. The token
// is asked for when the gateway refuses (401/403) and kept in sessionStorage: it survives a reload of this tab
// (the page reconnects after a gateway restart without asking again) but no other tab or window sees it, it is
// gone when the tab closes, and it is never written to disk as localStorage or a cookie would be; a cookie would
// also be sent by the browser on its own, which would open the admin routes to cross-site requests.
// Each group's configuration (voters, learners) is read from the membership admin route, with the same token, at
// most every membersEveryMs; cards show learners and removed members, and a group's form adds a member (as a
// learner, promoted unless "keep as learner" is ticked), a card's remove button removes one.

const eventsShownMax = 200;
const staleAfterMs = 3000;
const reconnectDelayMs = 1000;
const actions = ['kill', 'stop', 'start', 'isolate', 'heal'];
const tokenKey = 'pygmy-admin-token';
const membersEveryMs = 2000;
const groups = ['catalog', 'order'];

const state = {
  cards: new Map(),
  /** The last configuration read per group: { voters, learners, leader, configIndex }. */
  members: new Map(),
  membersReadAtMs: 0,
  membersReading: false,
  lastSequence: 0,
  series: [],
  lastSnapshotMs: 0,
};

const byId = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`dashboard: no element #${id}`);
  return element;
};

function element(tag, attributes = {}, text = null) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== null) made.textContent = text;
  return made;
}

function authorizationHeaders() {
  const token = sessionStorage.getItem(tokenKey);
  return token ? { authorization: `Bearer ${token}` } : {};
}

function formatTime(ms) {
  const date = new Date(ms);
  const pad = (value, width = 2) => String(value).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function setConnection(stateName, text) {
  const connection = byId('connection');
  connection.dataset.state = stateName;
  connection.textContent = text;
}

// ---- the stream -------------------------------------------------------------------------------------------

async function readStream() {
  const controller = new AbortController();
  const watchdog = setInterval(() => {
    if (Date.now() - state.lastSnapshotMs > staleAfterMs) controller.abort();
  }, 1000);
  state.lastSnapshotMs = Date.now();
  try {
    const response = await fetch('/events', { headers: authorizationHeaders(), cache: 'no-store', signal: controller.signal });
    if (response.status === 401 || response.status === 403) {
      const answer = await response.json().catch(() => ({ error: `refused (${response.status})` }));
      askForToken(answer.error);
      return false;
    }
    if (!response.ok || response.body === null) throw new Error(`/events answered ${response.status}`);
    setConnection('live', 'live');
    await consume(response.body.getReader());
  } catch (error) {
    if (!controller.signal.aborted) console.warn('dashboard stream:', error);
  } finally {
    clearInterval(watchdog);
    controller.abort();
  }
  return true;
}

async function consume(reader) {
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let boundary = buffered.indexOf('\n\n');
    while (boundary >= 0) {
      handleMessage(buffered.slice(0, boundary));
      buffered = buffered.slice(boundary + 2);
      boundary = buffered.indexOf('\n\n');
    }
  }
}

function handleMessage(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (name !== 'snapshot' || data.length === 0) return;
  state.lastSnapshotMs = Date.now();
  render(JSON.parse(data.join('\n')));
}

async function streamForever() {
  for (;;) {
    const retry = await readStream();
    if (!retry) return;
    setConnection('lost', 'disconnected — reconnecting');
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
  }
}

function askForToken(reason) {
  setConnection('refused', 'operations need the admin token');
  const form = byId('token-form');
  form.hidden = false;
  byId('token-reason').textContent = reason ?? '';
}

// ---- rendering --------------------------------------------------------------------------------------------

function render(snapshot) {
  if (snapshot.cluster !== null) renderCluster(snapshot.cluster);
  void refreshMembers();
  if (snapshot.clusterError !== null) byId('others').textContent = `cluster status unavailable: ${snapshot.clusterError}`;
  if (snapshot.series !== null) {
    state.series = snapshot.series;
    renderCharts(state.series);
  }
  renderEvents(snapshot.events);
  setConnection('live', `live · ${formatTime(snapshot.atMs)}`);
}

function renderCluster(cluster) {
  const others = [];
  for (const actor of cluster.actors) {
    if (actor.group !== 'catalog' && actor.group !== 'order') {
      const thread = threadFigures(actor);
      others.push(`${actor.name}: ${actor.alive ? 'up' : 'down'}, ${actor.restarts} restarts${thread === null ? '' : `, heap ${thread.heap}, loop lag p99 ${thread.loopLag}, mailbox ${thread.mailbox}`}`);
      continue;
    }
    updateCard(cardFor(actor), actor, cluster);
  }
  byId('others').textContent = others.join(' · ');
  for (const [group, leader] of Object.entries(cluster.leaders)) {
    const label = document.querySelector(`[data-leader-of="${group}"]`);
    if (label !== null) label.textContent = leader === null ? 'no leader' : `leader ${leader}`;
  }
}

function cardFor(actor) {
  const existing = state.cards.get(actor.name);
  if (existing !== undefined) return existing;
  const card = element('article', { class: 'replica', 'data-name': actor.name });
  const header = element('header');
  header.append(element('span', { class: 'name' }, actor.name), element('span', { class: 'badge' }));
  const fields = element('dl');
  for (const [key, label] of [['term', 'term'], ['commitIndex', 'commit'], ['lastApplied', 'applied'], ['lag', 'lag'], ['restarts', 'restarts'], ['heap', 'heap'], ['loopLag', 'loop lag p99'], ['mailbox', 'mailbox']]) {
    fields.append(element('dt', {}, label), element('dd', { 'data-field': key }));
  }
  const buttons = element('div', { class: 'actions' });
  for (const action of actions) {
    const button = element('button', { type: 'button', 'data-action': action }, action);
    button.addEventListener('click', () => void actorAction(actor.name, action));
    buttons.append(button);
  }
  const remove = element('button', { type: 'button', 'data-action': 'remove', title: 'remove from the group (its database is kept)' }, 'remove');
  remove.addEventListener('click', () => void removeMember(actor.group, actor.name));
  buttons.append(remove);
  card.append(header, fields, buttons);
  const container = document.querySelector(`[data-cards-of="${actor.group}"]`);
  const siblings = [...container.children, card].sort((left, right) => left.dataset.name.localeCompare(right.dataset.name));
  container.replaceChildren(...siblings);
  state.cards.set(actor.name, card);
  return card;
}

/** The actor's thread as the card shows it: heap used, event-loop delay p99, mailbox depth; null when not reported. */
function threadFigures(actor) {
  const figures = actor.figures;
  if (figures === undefined || figures === null) return null;
  const thread = figures.thread;
  return {
    heap: thread === null ? '—' : `${(thread.heapUsedBytes / (1024 * 1024)).toFixed(1)} MiB`,
    loopLag: thread === null ? '—' : `${thread.eventLoopDelayP99Ms.toFixed(1)} ms`,
    mailbox: String(figures.mailboxDepth),
  };
}

function leaderCommitIndex(cluster, group) {
  const leader = cluster.actors.find((actor) => actor.name === cluster.leaders[group]);
  if (leader !== undefined && leader.commitIndex !== null) return leader.commitIndex;
  return Math.max(0, ...cluster.actors.filter((actor) => actor.group === group).map((actor) => actor.commitIndex ?? 0));
}

function membershipOf(group, name) {
  const members = state.members.get(group);
  if (members === undefined) return 'unknown';
  if (members.voters.includes(name)) return 'voter';
  return members.learners.includes(name) ? 'learner' : 'removed';
}

function updateCard(card, actor, cluster) {
  const role = actor.alive ? (actor.role ?? 'unknown') : 'down';
  const membership = membershipOf(actor.group, actor.name);
  card.dataset.alive = String(actor.alive);
  card.dataset.role = role;
  card.dataset.membership = membership;
  card.querySelector('.badge').textContent = membership === 'learner' || membership === 'removed' ? `${role} · ${membership}` : role;
  card.querySelector('[data-action="remove"]').hidden = membership === 'removed';
  const field = (key) => card.querySelector(`[data-field="${key}"]`);
  const show = (value) => (value === null || value === undefined ? '—' : String(value));
  field('term').textContent = show(actor.term);
  field('commitIndex').textContent = show(actor.commitIndex);
  field('lastApplied').textContent = show(actor.lastApplied);
  field('restarts').textContent = show(actor.restarts);
  const lag = actor.lastApplied === null ? null : Math.max(0, leaderCommitIndex(cluster, actor.group) - actor.lastApplied);
  const lagField = field('lag');
  lagField.textContent = lag === null ? '—' : lag === 0 ? 'none' : `${lag} behind`;
  lagField.classList.toggle('lagging', lag !== null && lag > 0);
  const thread = threadFigures(actor);
  field('heap').textContent = thread === null ? '—' : thread.heap;
  field('loopLag').textContent = thread === null ? '—' : thread.loopLag;
  field('mailbox').textContent = thread === null ? '—' : thread.mailbox;
}

function renderEvents(events) {
  const list = byId('events');
  for (const event of events) {
    if (event.sequence <= state.lastSequence) continue;
    state.lastSequence = event.sequence;
    const item = element('li', { 'data-kind': event.kind });
    item.append(element('time', {}, formatTime(event.atMs)), document.createTextNode(event.text));
    list.prepend(item);
  }
  while (list.children.length > eventsShownMax) list.lastElementChild.remove();
}

// ---- charts -----------------------------------------------------------------------------------------------

const chartWidth = 300;
const chartHeight = 80;
const windowMs = 60_000;

function drawChart(id, series, options = {}) {
  const figure = byId(id);
  const svg = figure.querySelector('svg');
  const legend = figure.querySelector('.legend');
  // The right edge is the newest sample, by the gateway's clock: the browser's clock may differ.
  const times = series.flatMap((line) => line.points.map((point) => point.atMs));
  const endMs = times.length === 0 ? 0 : Math.max(...times);
  const values = series.flatMap((line) => line.points.map((point) => point.value));
  const top = options.max ?? Math.max(1e-9, ...values) * 1.1;
  const polylines = [];
  const entries = [];
  series.forEach((line, index) => {
    const points = line.points
      .filter((point) => point.atMs >= endMs - windowMs)
      .map((point) => {
        const x = chartWidth - ((endMs - point.atMs) / windowMs) * chartWidth;
        const y = chartHeight - (Math.min(point.value, top) / top) * (chartHeight - 4) - 2;
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
    const polyline = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    polyline.setAttribute('class', `series-${index}`);
    polyline.setAttribute('points', points.join(' '));
    polylines.push(polyline);
    const last = line.points.at(-1);
    entries.push(element('span', { class: `series-${index}` }, `${line.label} ${last === undefined ? '—' : formatNumber(last.value)}`));
  });
  svg.replaceChildren(...polylines);
  legend.replaceChildren(...entries);
  figure.querySelector('.now').textContent = options.now ?? '';
}

function formatNumber(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function pointsOf(samples, pick) {
  const points = [];
  for (const sample of samples) {
    const value = pick(sample);
    if (value !== null && value !== undefined) points.push({ atMs: sample.atMs, value });
  }
  return points;
}

function renderCharts(samples) {
  const totals = new Map();
  for (const sample of samples) {
    for (const [route, rate] of Object.entries(sample.requestsPerSecondByRoute)) totals.set(route, (totals.get(route) ?? 0) + rate);
  }
  const busiest = [...totals.entries()].sort((left, right) => right[1] - left[1]).slice(0, 4).map(([route]) => route);
  const last = samples.at(-1);
  drawChart('chart-rps', [
    { label: 'all', points: pointsOf(samples, (sample) => sample.requestsPerSecond) },
    ...busiest.map((route) => ({ label: route, points: pointsOf(samples, (sample) => sample.requestsPerSecondByRoute[route] ?? 0) })),
  ], { now: last === undefined ? '' : `${formatNumber(last.requestsPerSecond)} now` });
  drawChart('chart-latency', [
    { label: 'p50', points: pointsOf(samples, (sample) => sample.latencyP50Ms) },
    { label: 'p99', points: pointsOf(samples, (sample) => sample.latencyP99Ms) },
  ]);
  drawChart('chart-hits', [{ label: 'hits', points: pointsOf(samples, (sample) => sample.cacheHitRatio) }], { max: 1 });
  drawChart('chart-errors', [
    { label: '5xx', points: pointsOf(samples, (sample) => sample.errorsPerSecond) },
    { label: '4xx', points: pointsOf(samples, (sample) => sample.clientErrorsPerSecond) },
  ]);
}

// ---- buttons and forms ------------------------------------------------------------------------------------

async function actorAction(name, action) {
  const result = byId('action-result');
  result.textContent = `${action} ${name}…`;
  try {
    const response = await fetch(`/admin/actors/${encodeURIComponent(name)}/${action}`, { method: 'POST', headers: authorizationHeaders() });
    const answer = await response.json().catch(() => ({}));
    result.textContent = response.ok ? `${action} ${name}: done` : `${action} ${name}: ${response.status} ${answer.error ?? ''}`;
    if (response.status === 401 || response.status === 403) askForToken(answer.error);
  } catch (error) {
    result.textContent = `${action} ${name}: ${error}`;
  }
}

// ---- membership -------------------------------------------------------------------------------------------

async function refreshMembers() {
  if (state.membersReading || Date.now() - state.membersReadAtMs < membersEveryMs) return;
  state.membersReading = true;
  state.membersReadAtMs = Date.now();
  try {
    for (const group of groups) {
      const response = await fetch(`/admin/groups/${group}/members`, { headers: authorizationHeaders(), cache: 'no-store' });
      const answer = await response.json().catch(() => ({}));
      const line = document.querySelector(`[data-membership-of="${group}"]`);
      if (!response.ok || answer.ok !== true) {
        line.textContent = `configuration unavailable: ${response.status} ${answer.error ?? ''}`;
        continue;
      }
      const members = answer.result;
      state.members.set(group, members);
      line.textContent = `voters ${members.voters.join(', ') || 'none'} · learners ${members.learners.join(', ') || 'none'} · configuration at index ${members.configIndex}`;
    }
  } catch (error) {
    console.warn('dashboard members:', error);
  } finally {
    state.membersReading = false;
  }
}

async function membershipChange(what, path, init) {
  const result = byId('action-result');
  result.textContent = `${what}…`;
  try {
    const response = await fetch(path, { ...init, headers: { ...authorizationHeaders(), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) } });
    const answer = await response.json().catch(() => ({}));
    result.textContent = response.ok ? `${what}: done` : `${what}: ${response.status} ${answer.error ?? ''}`;
    if (response.status === 401 || response.status === 403) askForToken(answer.error);
  } catch (error) {
    result.textContent = `${what}: ${error}`;
  }
  state.membersReadAtMs = 0;
  void refreshMembers();
}

function removeMember(group, name) {
  if (!window.confirm(`Remove ${name} from the ${group} group? Its actor stops; its database is kept.`)) return;
  void membershipChange(`remove ${name}`, `/admin/groups/${group}/members/${encodeURIComponent(name)}`, { method: 'DELETE' });
}

/** Each group's panel (its cards, membership line and add form), from the page's template, before the others line. */
function groupPanels() {
  const template = byId('group-panel');
  const others = byId('others');
  for (const group of groups) {
    const panel = document.importNode(template.content.firstElementChild, true);
    panel.dataset.group = group;
    const heading = panel.querySelector('h2');
    heading.prepend(`${group} `);
    heading.querySelector('.group-leader').dataset.leaderOf = group;
    panel.querySelector('.cards').dataset.cardsOf = group;
    panel.querySelector('.membership').dataset.membershipOf = group;
    const form = panel.querySelector('.member-form');
    form.dataset.memberForm = group;
    form.elements.name.placeholder = `${group}-4`;
    others.before(panel);
  }
}

function wireMemberForms() {
  for (const form of document.querySelectorAll('[data-member-form]')) {
    const group = form.dataset.memberForm;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      const node = form.elements.node.value.trim();
      const learner = form.elements.learner.checked;
      if (name === '') {
        byId('action-result').textContent = `name the new ${group} member, e.g. ${group}-4`;
        return;
      }
      const body = JSON.stringify({ name, ...(node === '' ? {} : { node }), ...(learner ? { promote: false } : {}) });
      void membershipChange(`add ${name}${learner ? ' as a learner' : ''}`, `/admin/groups/${group}/members`, { method: 'POST', body });
    });
  }
}

function positiveInteger(input, what) {
  const value = Number(input.value);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer`);
  return value;
}

function showItems(items) {
  const body = byId('store-items').querySelector('tbody');
  body.replaceChildren(...items.map((item) => {
    const row = element('tr', { 'data-item': String(item.id) });
    row.append(
      element('td', { class: 'number' }, String(item.id)),
      element('td', {}, item.name),
      element('td', { class: 'number', 'data-field': 'stock' }, String(item.stock)),
      element('td', { class: 'number' }, String(item.price)),
      element('td', { class: 'number' }, String(item.topic)),
    );
    return row;
  }));
}

async function readJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  const answer = await response.json();
  return { status: response.status, answer, cache: response.headers.get('x-cache'), servedBy: response.headers.get('x-served-by') };
}

function describeSource(read) {
  if (read.cache === 'HIT') return 'cache hit';
  return read.servedBy === null ? 'cache miss' : `cache miss, served by ${read.servedBy}`;
}

async function lookup(id) {
  const read = await readJson(`/lookup/${id}`);
  if (read.status === 404) {
    showItems([]);
    return { text: `no item ${id}`, item: null };
  }
  if (read.status !== 200) throw new Error(read.answer.error ?? `lookup answered ${read.status}`);
  showItems([read.answer.result]);
  return { text: `item ${id} (${describeSource(read)})`, item: read.answer.result };
}

async function order(id, amount) {
  const before = await lookup(id);
  if (before.item === null) return `no item ${id}`;
  const response = await fetch(`/order/${id}?amount=${amount}`, { method: 'POST' });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`order answered ${response.status}: ${text}`);
  const bought = text === 'true';
  const after = await lookup(id);
  const orderId = response.headers.get('x-order-id');
  const verb = bought ? `bought ${amount}` : `could not buy ${amount}`;
  return `${verb} of item ${id} (order ${orderId}): stock ${before.item.stock} → ${after.item?.stock ?? '?'}`;
}

async function runStore(task) {
  const message = byId('store-message');
  message.textContent = '…';
  try {
    message.textContent = await task();
  } catch (error) {
    message.textContent = error instanceof Error ? error.message : String(error);
  }
}

function wireForms() {
  const itemInput = byId('item-id');
  const amountInput = byId('amount');
  byId('item-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void runStore(async () => (await lookup(positiveInteger(itemInput, 'item'))).text);
  });
  document.querySelector('[data-store="order"]').addEventListener('click', () => {
    void runStore(() => order(positiveInteger(itemInput, 'item'), positiveInteger(amountInput, 'amount')));
  });
  document.querySelector('[data-store="list"]').addEventListener('click', () => {
    void runStore(async () => {
      const read = await readJson('/lookup');
      showItems(read.answer.result);
      return `${read.answer.result.length} items (${describeSource(read)})`;
    });
  });
  byId('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void runStore(async () => {
      const topic = byId('topic').value;
      const read = await readJson(`/search/${encodeURIComponent(topic)}`);
      if (read.status !== 200) throw new Error(read.answer.error ?? `search answered ${read.status}`);
      showItems(read.answer.result);
      return `${read.answer.result.length} items in ${read.answer.topics.map((found) => found.name).join(', ') || 'no topic'}`;
    });
  });
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, byId('token').value);
    byId('token-form').hidden = true;
    void streamForever();
  });
}

groupPanels();
wireForms();
wireMemberForms();
void streamForever();
