// Docket's operators' dashboard: plain DOM, no framework, no network beyond this server.
// Everything that comes from the server (names, payloads, errors) reaches the page through
// textContent or attribute values, never as markup.
(function () {
  'use strict';

  const meta = (name) => {
    const node = document.querySelector('meta[name="' + name + '"]');
    return node ? node.getAttribute('content') : '';
  };
  const CSRF = meta('docket-csrf');
  const ADMIN = meta('docket-admin') === 'true';
  const STATES = ['waiting', 'delayed', 'active', 'completed', 'dead'];
  const PURGEABLE = new Set(['waiting', 'delayed', 'completed', 'dead']);
  const REFRESH_MS = 2000;
  // Queues the overview lists a page (the server sends at most 1,024).
  const OVERVIEW_PAGE = 250;
  const LIVE_CAP = 500;
  // Queue names the live view suggests for what is typed.
  const LIVE_SUGGESTIONS = 20;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // ---------------------------------------------------------------- DOM helpers

  function append(node, children) {
    for (const child of children) {
      if (child == null || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
    return node;
  }

  function setProps(node, props) {
    if (!props) return;
    for (const key of Object.keys(props)) {
      const value = props[key];
      if (value == null || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'testid') node.setAttribute('data-testid', value);
      else if (key === 'dataset') { for (const d of Object.keys(value)) node.dataset[d] = String(value[d]); }
      else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
      else if (key === 'value' || key === 'checked') node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
  }

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    return append(node, children);
  }

  function s(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    return append(node, children);
  }

  function setText(node, text) {
    text = String(text);
    if (node.textContent !== text) node.textContent = text;
  }

  // ---------------------------------------------------------------- formatting

  const numberFormat = new Intl.NumberFormat(undefined);

  function fmtInt(n) {
    return n == null ? '—' : numberFormat.format(n);
  }

  function fmtRate(x) {
    if (x == null) return '—';
    if (x === 0) return '0';
    if (x < 0.01) return '<0.01';
    if (x < 10) return x.toFixed(2).replace(/\.?0+$/, '');
    if (x < 100) return x.toFixed(1).replace(/\.0$/, '');
    return numberFormat.format(Math.round(x));
  }

  function fmtBytes(n) {
    if (n == null) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }

  // A span of time for people: 45ms, 3.2s, 4m 10s, 2h 5m, 3d 4h.
  function fmtDuration(ms) {
    if (ms == null) return '—';
    if (ms > 0 && ms < 10 && ms !== Math.round(ms)) return ms.toFixed(1).replace(/\.0$/, '') + 'ms';
    ms = Math.max(0, Math.round(ms));
    if (ms < 1000) return ms + 'ms';
    const sec = ms / 1000;
    if (sec < 60) return (sec < 10 ? sec.toFixed(1).replace(/\.0$/, '') : Math.floor(sec)) + 's';
    const min = Math.floor(sec / 60);
    if (min < 60) return min + 'm' + (Math.floor(sec % 60) ? ' ' + Math.floor(sec % 60) + 's' : '');
    const hours = Math.floor(min / 60);
    if (hours < 48) return hours + 'h' + (min % 60 ? ' ' + (min % 60) + 'm' : '');
    return Math.floor(hours / 24) + 'd' + (hours % 24 ? ' ' + (hours % 24) + 'h' : '');
  }

  // A duration as the wire reads it, exactly: 1500ms, 30s, 5m, 2h.
  function wireDuration(ms) {
    if (ms == null) return '';
    for (const [unit, size] of [['h', 3600000], ['m', 60000], ['s', 1000]]) {
      if (ms >= size && ms % size === 0) return ms / size + unit;
    }
    return ms + 'ms';
  }

  // "10/1000ms" -> "10/1s", "exp:1000ms:3600000ms" -> "exp:1s:1h".
  function prettyDurations(text) {
    if (text == null) return '';
    return String(text).replace(/(\d+)ms/g, (_, n) => wireDuration(Number(n)));
  }

  const pad2 = (n) => String(n).padStart(2, '0');

  function fmtClock(ms) {
    const d = new Date(ms);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function fmtTimestamp(ms) {
    if (ms == null) return '—';
    const d = new Date(ms);
    const now = new Date();
    const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
    const day = d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate());
    return sameDay ? fmtClock(ms) : day + ' ' + fmtClock(ms);
  }

  function fmtRelative(ms) {
    if (ms == null) return '';
    const delta = ms - Date.now();
    if (Math.abs(delta) < 1000) return 'now';
    return delta > 0 ? 'in ' + fmtDuration(delta) : fmtDuration(-delta) + ' ago';
  }

  // The viewer's time zone, as times on the page are shown in it.
  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time'; } catch (_) { return 'local time'; }
  }

  function timeNode(ms) {
    if (ms == null) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toString() + ' (' + fmtRelative(ms) + ')' },
      fmtTimestamp(ms));
  }

  function truncate(text, max) {
    if (text == null) return '';
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
  }

  // The first `max` UTF-16 units of text, never cutting a surrogate pair in two.
  function textStart(text, max) {
    if (text.length <= max) return text;
    const code = text.charCodeAt(max - 1);
    return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
  }

  // ---------------------------------------------------------------- talking to docketd

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  // How long a request may go unanswered: a docketd that accepts connections but does not
  // answer (stopped, or stuck) must not leave the page showing old numbers as if current.
  const API_TIMEOUT_MS = 10000;

  // The page's origin without the user:password@ it may have been opened with: fetch refuses a
  // URL that carries credentials, and a relative one takes them from such a page's address. The
  // browser still sends the credentials it was given for this origin.
  const ORIGIN = location.origin;

  async function api(path, options) {
    const init = Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options || {});
    init.headers = Object.assign({ Accept: 'application/json' }, init.headers || {});
    const abort = new AbortController();
    init.signal = abort.signal;
    const timer = setTimeout(() => abort.abort(), API_TIMEOUT_MS);
    let response, text;
    try {
      response = await fetch(ORIGIN + path, init);
      text = await response.text();
    } catch (error) {
      if (abort.signal.aborted) throw new ApiError('TIMEOUT', 'docketd did not answer within ' + API_TIMEOUT_MS / 1000 + ' s', 0);
      throw new ApiError('UNREACHABLE', 'cannot reach docketd (' + error.message + ')', 0);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!response.ok) {
      const error = body && body.error ? body.error : {};
      throw new ApiError(error.code || 'HTTP_' + response.status, error.message || text.trim() || response.statusText, response.status);
    }
    return body;
  }

  function post(path, body) {
    return api(path, {
      method: 'POST',
      headers: { 'X-Docket-CSRF': CSRF, 'Content-Type': 'text/plain; charset=utf-8' },
      body: body == null ? '' : body,
    });
  }

  const q = encodeURIComponent;

  // ---------------------------------------------------------------- messages

  const messageArea = document.getElementById('messages');
  const messageKeys = new Map();

  function showMessage(kind, title, text, options) {
    options = options || {};
    const key = options.key;
    if (key && messageKeys.has(key)) messageKeys.get(key).remove();
    const node = h('div', { class: 'msg msg-' + kind, role: kind === 'error' ? 'alert' : null, testid: 'message-' + kind, dataset: key ? { key } : null },
      h('strong', { class: 'msg-title' }, title),
      h('span', { class: 'msg-text', testid: 'message-text' }, text),
      h('button', { class: 'msg-close', type: 'button', 'aria-label': 'Dismiss', onclick: () => dismiss() }, '×'));
    function dismiss() {
      node.remove();
      if (key && messageKeys.get(key) === node) messageKeys.delete(key);
    }
    // Loads that fail alike (a queue's page asks for the queue and for its jobs) say it once:
    // the older report makes way, and its key with it.
    for (const other of Array.from(messageArea.children)) {
      if (other.className !== node.className || other.textContent !== node.textContent) continue;
      other.remove();
      for (const [otherKey, shown] of Array.from(messageKeys)) if (shown === other) messageKeys.delete(otherKey);
    }
    if (key) messageKeys.set(key, node);
    messageArea.appendChild(node);
    while (messageArea.children.length > 5) messageArea.firstElementChild.remove();
    if (options.timeout) setTimeout(dismiss, options.timeout);
    return node;
  }

  function clearMessage(key) {
    const node = messageKeys.get(key);
    if (node) { node.remove(); messageKeys.delete(key); }
  }

  // Errors belong to the view that met them: a new view starts without them (notes of success
  // stay, they fade by themselves and may report what led here, such as a deletion).
  function clearErrors() {
    for (const node of Array.from(messageArea.querySelectorAll('.msg-error'))) node.remove();
    for (const [key, node] of Array.from(messageKeys)) if (!node.isConnected) messageKeys.delete(key);
  }

  function showError(error, key) {
    const code = error instanceof ApiError ? error.code : 'ERROR';
    showMessage('error', code, error.message || String(error), { key: key || null });
  }

  function showOk(text) {
    showMessage('ok', 'Done', text, { timeout: 5000 });
  }

  const updatedNode = document.getElementById('updated');
  function noteRefreshed() {
    clearMessage('poll');
    updatedNode.textContent = 'updated ' + fmtClock(Date.now());
  }

  // ---------------------------------------------------------------- confirmation

  const dialog = document.getElementById('confirm-dialog');
  function confirmAction(title, message, okLabel) {
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-message').textContent = message;
    document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
    dialog.returnValue = '';
    if (typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(title + '\n\n' + message));
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
    });
  }

  // Runs a change, reports its outcome, and tells the caller whether it worked.
  async function perform(run, describe) {
    try {
      const answer = await run();
      if (describe) showOk(typeof describe === 'function' ? describe(answer) : describe);
      return answer || true;
    } catch (error) {
      showError(error);
      return null;
    }
  }

  function actionButton(label, props, onclick) {
    const button = h('button', Object.assign({ type: 'button', class: 'btn' }, props || {}), label);
    button.addEventListener('click', async () => {
      if (button.disabled) return;
      button.disabled = true;
      try { await onclick(button); } finally { button.disabled = false; }
    });
    return button;
  }

  // ---------------------------------------------------------------- polling

  // Calls load() now and every `every` ms after it settles (never two at once), hands the result
  // to show(); stops while the tab is hidden. An answer that took long (a server with thousands
  // of queues, or a busy one) spaces the next ones out, so that a page left open keeps docketd
  // busy at most a fifth of the time; a failure does not (the page must see it recover).
  const SLOW_ANSWER_FACTOR = 4;
  const LONGEST_WAIT_MS = 60000;
  function poller(load, show, every) {
    let timer = null;
    let stopped = false;
    let running = false;
    async function tick() {
      timer = null;
      if (stopped || document.hidden) return;
      running = true;
      let wait = typeof every === 'function' ? every() : every;
      try {
        const begun = performance.now();
        const data = await load();
        wait = Math.max(wait, Math.min(SLOW_ANSWER_FACTOR * (performance.now() - begun), LONGEST_WAIT_MS));
        if (!stopped) { show(data); noteRefreshed(); }
      } catch (error) {
        if (!stopped) showError(error, 'poll');
      }
      running = false;
      if (!stopped) timer = setTimeout(tick, wait);
    }
    function onVisibility() {
      if (!document.hidden && timer === null && !running && !stopped) tick();
    }
    document.addEventListener('visibilitychange', onVisibility);
    tick();
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
        document.removeEventListener('visibilitychange', onVisibility);
      },
      now() {
        if (stopped || running) return;
        clearTimeout(timer);
        tick();
      },
    };
  }

  // ---------------------------------------------------------------- shared state

  const shared = { overview: null };
  const serverInfo = document.getElementById('server-info');
  if (!ADMIN) document.getElementById('readonly-badge').hidden = false;

  function noteOverview(overview) {
    shared.overview = overview;
    const server = overview.server || {};
    const parts = ['docketd ' + (server.docket_version || '?')];
    if (overview.store) parts.push(overview.store);
    if (overview.uptime_ms != null) parts.push('up ' + fmtDuration(overview.uptime_ms));
    setText(serverInfo, parts.join(' · '));
  }

  // ---------------------------------------------------------------- charts (plain SVG)

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  // opts: {title, testid, t: [ms], lines: [{label, values, cls}], format: (v) => text, empty}
  function lineChart(opts) {
    const width = 560, height = 170, left = 56, right = 12, top = 12, bottom = 24;
    const plotW = width - left - right, plotH = height - top - bottom;
    const t = opts.t || [];
    const readout = h('span', { class: 'chart-readout', testid: 'chart-readout' });
    const legend = h('ul', { class: 'chart-legend' },
      opts.lines.map((line) => h('li', null, h('span', { class: 'swatch ' + line.cls }), line.label)));
    const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + height, class: 'chart', role: 'img', 'aria-label': opts.title, preserveAspectRatio: 'none' });
    const figure = h('figure', { class: 'chart-box', testid: opts.testid },
      h('figcaption', null, h('span', { class: 'chart-title' }, opts.title), readout), svg, legend);
    let max = 0;
    for (const line of opts.lines) for (const v of line.values) if (v != null && v > max) max = v;
    const top0 = niceMax(max);
    if (t.length < 2) {
      svg.appendChild(s('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' },
        opts.empty || 'Collecting data: one point every 10 s'));
      return figure;
    }
    const t0 = t[0], t1 = Math.max(t[t.length - 1], t0 + 1);
    const x = (ms) => left + (ms - t0) / (t1 - t0) * plotW;
    const y = (v) => top + plotH - (v / top0) * plotH;
    for (const fraction of [0, 0.5, 1]) {
      const gy = top + plotH - fraction * plotH;
      svg.appendChild(s('line', { x1: left, x2: width - right, y1: gy, y2: gy, class: 'grid' }));
      svg.appendChild(s('text', { x: left - 6, y: gy + 4, 'text-anchor': 'end', class: 'axis' }, fraction === 0 ? '0' : opts.format(top0 * fraction)));
    }
    for (const [ms, anchor] of [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']]) {
      const label = t1 - t0 < 10 * 60000 ? fmtClock(ms) : fmtClock(ms).slice(0, 5);
      svg.appendChild(s('text', { x: x(ms), y: height - 6, 'text-anchor': anchor, class: 'axis' }, label));
    }
    for (const line of opts.lines) {
      let points = [];
      const flush = () => {
        if (points.length === 1) {
          const [px, py] = points[0].split(',');
          svg.appendChild(s('circle', { cx: px, cy: py, r: 2, class: 'dot ' + line.cls }));
        } else if (points.length > 1) {
          svg.appendChild(s('polyline', { points: points.join(' '), class: 'line ' + line.cls }));
        }
        points = [];
      };
      line.values.forEach((v, i) => {
        if (v == null) flush();
        else points.push(x(t[i]).toFixed(1) + ',' + y(v).toFixed(1));
      });
      flush();
    }
    const cursor = s('line', { y1: top, y2: top + plotH, x1: -10, x2: -10, class: 'cursor' });
    svg.appendChild(cursor);
    const describe = (i) => fmtClock(t[i]) + '  ' + opts.lines.map((line) =>
      line.label + ' ' + (line.values[i] == null ? '—' : opts.format(line.values[i]))).join(' · ');
    svg.addEventListener('mousemove', (event) => {
      const box = svg.getBoundingClientRect();
      const ms = t0 + ((event.clientX - box.left) / box.width * width - left) / plotW * (t1 - t0);
      let best = 0;
      for (let i = 1; i < t.length; i++) if (Math.abs(t[i] - ms) < Math.abs(t[best] - ms)) best = i;
      cursor.setAttribute('x1', x(t[best]));
      cursor.setAttribute('x2', x(t[best]));
      readout.textContent = describe(best);
    });
    svg.addEventListener('mouseleave', () => {
      cursor.setAttribute('x1', -10);
      cursor.setAttribute('x2', -10);
      readout.textContent = '';
    });
    return figure;
  }

  function sparkline(t, values) {
    const width = 90, height = 22;
    const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + height, class: 'spark', 'aria-hidden': 'true', preserveAspectRatio: 'none' });
    if (!t || t.length < 2) return svg;
    let max = 0;
    for (const v of values) if (v > max) max = v;
    const t0 = t[0], t1 = Math.max(t[t.length - 1], t0 + 1);
    const points = values.map((v, i) => ((t[i] - t0) / (t1 - t0) * width).toFixed(1) + ',' +
      (height - 1 - (max > 0 ? (v || 0) / max : 0) * (height - 2)).toFixed(1));
    svg.appendChild(s('polyline', { points: points.join(' '), class: 'line spark-line' }));
    return svg;
  }

  // A queue's entry in a document keyed by queue name: its own property only, so a queue
  // named "constructor" or "toString" that the document does not list yet is not found on
  // Object.prototype.
  function entryOf(object, name) {
    return object && Object.prototype.hasOwnProperty.call(object, name) ? object[name] : null;
  }

  const SERIES_KEYS = ['started', 'completed', 'failed', 'wait_p50_ms', 'wait_p95_ms', 'run_p50_ms', 'run_p95_ms'];

  // A series quiet at each of `times`: what a queue the document does not list did.
  function quietSeries(times) {
    const out = { t: times };
    for (const key of SERIES_KEYS) out[key] = times.map(() => (key.endsWith('_ms') ? null : 0));
    return out;
  }

  // The series of one queue, or of every queue added up (`all`: latency the slowest queue's).
  // A queue the document does not list was quiet at each of its sampling times (`t`).
  function seriesFor(series, queue) {
    const sampled = (series && series.t) || [];
    if (!queue) return (series && series.all) || (sampled.length ? quietSeries(sampled) : null);
    return entryOf(series && series.queues, queue) || (sampled.length ? quietSeries(sampled) : null);
  }

  // `older` followed by `newer`, without the points sampled before `from`.
  function joinSeries(older, newer, from) {
    const keep = [];
    older.t.forEach((ms, i) => { if (ms >= from) keep.push(i); });
    const out = { t: keep.map((i) => older.t[i]).concat(newer.t) };
    for (const key of SERIES_KEYS) out[key] = keep.map((i) => (older[key] || [])[i]).concat(newer[key] || []);
    return out;
  }

  // The hour held (`held`) with an answer of /api/series?since=<its last time> (`fresh`: only
  // the points sampled after it) appended: a poll then carries one point a queue, not the hour
  // again. null when the answer is for other queues than the ones held (the overview's page
  // changed under it): only an answer with the whole hour can tell those apart.
  function mergeSeries(held, fresh) {
    if (JSON.stringify(held.listed || null) !== JSON.stringify(fresh.listed || null)) return null;
    const from = fresh.from == null ? Infinity : fresh.from;
    const merged = Object.assign({}, fresh, { t: joinSeries({ t: held.t }, { t: fresh.t }, from).t, queues: {} });
    merged.all = joinSeries(held.all || quietSeries(held.t), fresh.all || quietSeries(fresh.t), from);
    const names = new Set(Object.keys(held.queues || {}).concat(Object.keys(fresh.queues || {})));
    for (const name of names) {
      const one = joinSeries(entryOf(held.queues, name) || quietSeries(held.t), entryOf(fresh.queues, name) || quietSeries(fresh.t), from);
      // Quiet all through the window now: as the server, the page lists it no more.
      const active = SERIES_KEYS.some((key) => one[key].some((v) => (key.endsWith('_ms') ? v != null : v > 0)));
      if (active) merged.queues[name] = one;
    }
    return merged;
  }

  // Keeps one selection's hour of /api/series (`path`: its query, without since=): the first
  // answer has the whole hour, each later one only what was sampled after the last time held.
  // (Not after the answer's `now`: a sample taken in the same millisecond as an answer, after
  // it, has that time, and would never be asked for.)
  function seriesKeeper() {
    let held = null;
    let heldPath = null;
    return async function load(path) {
      const join = path.includes('?') ? '&' : '?';
      if (held && heldPath === path && held.t.length > 0) {
        const merged = mergeSeries(held, await api(path + join + 'since=' + held.t[held.t.length - 1]));
        if (merged) { held = merged; return held; }
      }
      held = await api(path);
      heldPath = path;
      return held;
    };
  }

  function seriesCharts(series, queue) {
    const one = seriesFor(series, queue);
    const perSecond = 1000 / ((series && series.interval_ms) || 10000);
    const t = one ? one.t : [];
    const rate = (key) => (one ? one[key].map((v) => (v == null ? null : v * perSecond)) : []);
    const list = (key) => (one ? one[key] : []);
    const slowest = queue ? '' : ' (slowest queue)';
    return h('div', { class: 'charts' },
      lineChart({
        title: 'Throughput, jobs/s', testid: 'chart-throughput', t, format: fmtRate,
        lines: [
          { label: 'started', values: rate('started'), cls: 'c-started' },
          { label: 'completed', values: rate('completed'), cls: 'c-completed' },
          { label: 'failed', values: rate('failed'), cls: 'c-failed' },
        ],
      }),
      lineChart({
        title: 'Wait and run time' + slowest, testid: 'chart-latency', t, format: fmtDuration,
        lines: [
          { label: 'wait p50', values: list('wait_p50_ms'), cls: 'c-wait50' },
          { label: 'wait p95', values: list('wait_p95_ms'), cls: 'c-wait95' },
          { label: 'run p50', values: list('run_p50_ms'), cls: 'c-run50' },
          { label: 'run p95', values: list('run_p95_ms'), cls: 'c-run95' },
        ],
      }));
  }

  // ---------------------------------------------------------------- small pieces

  function stateBadge(state) {
    return h('span', { class: 'badge state-' + state, testid: 'state-badge', dataset: { state } }, state);
  }

  function queueBadges(queue) {
    const badges = [];
    if (queue.paused) badges.push(h('span', { class: 'badge badge-paused', testid: 'badge-paused' }, 'paused'));
    if (queue.blocked_by && queue.blocked_by !== 'paused') {
      let title = 'Nothing starts now: ' + queue.blocked_by;
      if (queue.held_until) title += '; held until ' + new Date(queue.held_until).toString();
      else if (queue.next_start_at) title += '; next start ' + fmtRelative(queue.next_start_at);
      badges.push(h('span', { class: 'badge badge-held', testid: 'badge-blocked', dataset: { blockedBy: queue.blocked_by }, title },
        queue.blocked_by === 'throttle' ? 'throttled' : 'held: ' + queue.blocked_by));
    }
    return badges;
  }

  function queueLink(name) {
    return h('a', { href: '#/queue/' + q(name), class: 'queue-link' }, name);
  }

  function jobLink(id) {
    return h('a', { href: '#/job/' + id, class: 'job-link', testid: 'job-link' }, '#' + id);
  }

  function table(headers, props) {
    const tbody = h('tbody');
    const node = h('table', Object.assign({ class: 'grid-table' }, props || {}),
      h('thead', null, h('tr', null, headers.map((header) => {
        const [label, cls] = Array.isArray(header) ? header : [header, null];
        return h('th', { scope: 'col', class: cls }, label);
      }))), tbody);
    return { node, tbody };
  }

  function emptyRow(tbody, columns, text) {
    tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: columns, testid: 'empty' }, text)));
  }

  function section(title, ...children) {
    return h('section', { class: 'panel' }, title ? h('h2', null, title) : null, children);
  }

  // Replaces rows only where their data changed, so rows stay the same elements (and buttons
  // keep focus) across refreshes.
  function syncRows(tbody, items, keyOf, signatureOf, build) {
    const existing = new Map();
    for (const row of Array.from(tbody.children)) {
      if (row.dataset.key != null) existing.set(row.dataset.key, row);
      else row.remove();
    }
    let previous = null;
    for (const item of items) {
      const key = String(keyOf(item));
      const signature = signatureOf(item);
      let row = existing.get(key);
      if (row && row.dataset.sig !== signature) { row.remove(); row = null; }
      if (!row) {
        row = build(item);
        row.dataset.key = key;
        row.dataset.sig = signature;
      }
      existing.delete(key);
      const wanted = previous ? previous.nextSibling : tbody.firstChild;
      if (row !== wanted) tbody.insertBefore(row, wanted);
      previous = row;
    }
    for (const row of existing.values()) row.remove();
  }

  // ---------------------------------------------------------------- overview

  function overviewView(root) {
    const cards = h('div', { class: 'cards', id: 'summary', testid: 'summary' });
    const chartQueue = h('select', { id: 'chart-queue', testid: 'chart-queue', 'aria-label': 'Charts for' },
      h('option', { value: '' }, 'All queues'));
    const chartsHost = h('div', { id: 'overview-charts' });
    const filter = h('input', { type: 'search', id: 'queue-filter', testid: 'queue-filter', placeholder: 'Filter queues', 'aria-label': 'Filter queues' });
    const queues = table([
      'Queue', 'Status', ['Waiting', 'num'], ['Delayed', 'num'], ['Active', 'num'], ['Completed', 'num'], ['Dead', 'num'],
      ['Started/s', 'num'], ['Completed/s', 'num'], ['Failed/s', 'num'], ['Oldest waiting', 'num'], ['Workers waiting', 'num'], 'Last hour',
    ], { id: 'queues', testid: 'queues-table' });
    const queueCount = h('span', { class: 'muted', id: 'queue-count' });
    // The server answers a page of the queues (with many thousands, all of them would be
    // megabytes built on the loop that serves every client); the filter is applied there too,
    // so that it finds queues on other pages.
    let offset = 0;
    let shownFilter = '';
    const wantedFilter = () => filter.value.replace(/\s+/g, '').toLowerCase();
    const overviewURL = () => '/api/overview?limit=' + OVERVIEW_PAGE + '&offset=' + offset + (wantedFilter() ? '&filter=' + q(wantedFilter()) : '');
    const queuesPrev = h('button', { type: 'button', class: 'btn', id: 'queues-prev', testid: 'queues-prev', onclick: () => turnPage(-1) }, '← Previous');
    const queuesNext = h('button', { type: 'button', class: 'btn', id: 'queues-next', testid: 'queues-next', onclick: () => turnPage(1) }, 'Next →');
    const queuesInfo = h('span', { class: 'muted', id: 'queues-page-info', testid: 'queues-page-info', 'aria-live': 'polite' });
    const queuesPager = h('div', { class: 'pager', id: 'queues-pager', testid: 'queues-pager', hidden: true }, queuesPrev, queuesInfo, queuesNext);
    root.append(
      h('h1', { tabindex: '-1' }, 'Overview'),
      cards,
      section(null, h('div', { class: 'toolbar' }, h('h2', null, 'Activity, last hour'), h('label', null, 'Show ', chartQueue)), chartsHost),
      section(null, h('div', { class: 'toolbar' }, h('h2', null, 'Queues ', queueCount), filter), h('div', { class: 'scroll' }, queues.node), queuesPager));

    let series = null;
    let chartData = null;
    const rows = new Map();

    function card(id, label, value, extra) {
      return h('div', { class: 'card', testid: 'card-' + id, id: 'card-' + id },
        h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value), extra || null);
    }

    function renderCards(overview) {
      const server = overview.server || {};
      // Every queue's figures, added up by the server: the page lists only some of them.
      const summary = overview.summary || {};
      const waitingWorkers = summary.waiting_workers || 0, paused = summary.paused || 0;
      const started = summary.started_per_s || 0, completed = summary.completed_per_s || 0, failed = summary.failed_per_s || 0;
      let store = fmtBytes(server.store_used_bytes);
      let bar = null;
      if (server.store_capacity_bytes) {
        const fraction = Math.min(1, (server.store_used_bytes || 0) / server.store_capacity_bytes);
        store += ' of ' + fmtBytes(server.store_capacity_bytes);
        const fill = h('div', { class: 'meter-fill' + (fraction > 0.8 ? ' meter-high' : '') });
        fill.style.width = (fraction * 100).toFixed(1) + '%';
        bar = h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(fraction * 100), 'aria-label': 'Store used' }, fill);
      }
      cards.replaceChildren(
        card('queues', 'Queues', fmtInt(summary.queues || 0), paused ? h('div', { class: 'card-note' }, paused + ' paused') : null),
        card('jobs', 'Jobs held', fmtInt(server.jobs)),
        card('started', 'Started/s', fmtRate(started)),
        card('completed', 'Completed/s', fmtRate(completed)),
        card('failed', 'Failed/s', fmtRate(failed)),
        card('connections', 'Connections', fmtInt(server.connections)),
        card('workers', 'Workers waiting', fmtInt(waitingWorkers)),
        card('store', 'Store (' + (overview.store || '?') + ')', store, bar));
    }

    function buildRow(name) {
      const cells = {};
      const cell = (key, cls) => (cells[key] = h('td', { class: cls || 'num', testid: key }));
      const row = h('tr', { testid: 'queue-row', dataset: { queue: name } },
        h('th', { scope: 'row' }, queueLink(name)),
        cell('status', 'status'),
        STATES.map((state) => cell('count-' + state)),
        cell('rate-started'), cell('rate-completed'), cell('rate-failed'), cell('oldest-waiting'), cell('waiting-workers'),
        cell('spark', 'spark-cell'));
      return { row, cells, status: '', sparkKey: '' };
    }

    function setCell(cell, text, value) {
      setText(cell, text);
      if (value !== undefined) {
        const v = value == null ? '' : String(value);
        if (cell.dataset.value !== v) cell.dataset.value = v;
      }
    }

    function renderQueues(overview) {
      const names = overview.queues.map((queue) => queue.queue);
      const seen = new Set(names);
      for (const [name, entry] of rows) if (!seen.has(name)) { entry.row.remove(); rows.delete(name); }
      if (overview.queues.length === 0) {
        emptyRow(queues.tbody, 13, overview.total > 0 ? 'No queues on this page.'
          : shownFilter ? 'No queue name contains “' + shownFilter + '”.' : 'No queues yet: a queue appears with its first job or setting.');
      } else {
        const empty = queues.tbody.querySelector('tr.empty');
        if (empty) empty.remove();
      }
      let previous = null;
      const existing = new Set(options(chartQueue));
      for (const queue of overview.queues) {
        let entry = rows.get(queue.queue);
        if (!entry) { entry = buildRow(queue.queue); rows.set(queue.queue, entry); }
        const { row, cells } = entry;
        for (const state of STATES) setCell(cells['count-' + state], fmtInt(queue.jobs[state]), queue.jobs[state]);
        const rates = queue.rates || {};
        setCell(cells['rate-started'], fmtRate(rates.started_per_s), rates.started_per_s);
        setCell(cells['rate-completed'], fmtRate(rates.completed_per_s), rates.completed_per_s);
        setCell(cells['rate-failed'], fmtRate(rates.failed_per_s), rates.failed_per_s);
        setCell(cells['oldest-waiting'], queue.oldest_waiting_ms == null ? '—' : fmtDuration(queue.oldest_waiting_ms), queue.oldest_waiting_ms);
        setCell(cells['waiting-workers'], fmtInt(queue.waiting_workers), queue.waiting_workers);
        const status = JSON.stringify([queue.paused, queue.blocked_by, queue.held_until]);
        if (entry.status !== status) {
          entry.status = status;
          const badges = queueBadges(queue);
          cells.status.replaceChildren(...(badges.length ? badges : [h('span', { class: 'badge badge-ok' }, 'running')]));
          row.classList.toggle('is-paused', !!queue.paused);
        }
        const wanted = previous ? previous.nextSibling : queues.tbody.firstChild;
        if (row !== wanted) queues.tbody.insertBefore(row, wanted);
        previous = row;
        if (!existing.has(queue.queue)) chartQueue.appendChild(h('option', { value: queue.queue }, queue.queue));
      }
      for (const option of Array.from(chartQueue.options)) {
        if (option.value && !seen.has(option.value) && option.value !== chartQueue.value) option.remove();
      }
      const total = overview.total || 0;
      setText(queueCount, '(' + fmtInt(total) + ')');
      queuesPager.hidden = total <= OVERVIEW_PAGE && offset === 0;
      setText(queuesInfo, overview.queues.length
        ? fmtInt(overview.offset + 1) + '–' + fmtInt(overview.offset + overview.queues.length) + ' of ' + fmtInt(total) : '0 of ' + fmtInt(total));
      queuesPrev.disabled = offset === 0;
      queuesNext.disabled = overview.offset + overview.queues.length >= total;
      applyFilter();
      renderSparks();
    }

    function turnPage(direction) {
      offset = Math.max(0, offset + direction * OVERVIEW_PAGE);
      counts.now();
    }

    function options(select) {
      return Array.from(select.options).map((option) => option.value).filter(Boolean);
    }

    function renderSparks() {
      if (!series) return;
      for (const [name, entry] of rows) {
        const one = entryOf(series.queues, name);
        const key = one ? one.t.length + ':' + one.t[one.t.length - 1] : 'none';
        if (entry.sparkKey === key) continue;
        entry.sparkKey = key;
        entry.cells.spark.replaceChildren(one ? sparkline(one.t, one.started) : '');
        if (one) entry.cells.spark.title = 'Jobs started per 10 s over the last hour';
      }
    }

    function renderCharts() {
      chartsHost.replaceChildren(seriesCharts(chartData, chartQueue.value));
    }

    function applyFilter() {
      const needle = filter.value.trim().toLowerCase();
      for (const [name, entry] of rows) entry.row.hidden = needle !== '' && !name.toLowerCase().includes(needle);
    }

    let filterTimer = null;
    filter.addEventListener('input', () => {
      applyFilter();
      clearTimeout(filterTimer);
      // Asked of the server once typing pauses; the rows shown are narrowed at once.
      filterTimer = setTimeout(() => { offset = 0; counts.now(); }, 250);
    });
    chartQueue.addEventListener('change', () => {
      // Until the chosen queue's hour is here, its charts are not drawn from another's.
      if (chartQueue.value && !(series && (series.listed || []).includes(chartQueue.value))) chartData = null;
      renderCharts();
      activity.now();
    });
    renderCharts();

    const counts = poller(() => {
      const asked = { url: overviewURL(), filter: wantedFilter(), offset };
      return api(asked.url).then((overview) => ({ overview, asked }));
    }, ({ overview, asked }) => {
      noteOverview(overview);
      renderCards(overview);
      shownFilter = asked.filter;
      if (asked.offset === offset && overview.offset > 0 && overview.queues.length === 0 && overview.total > 0) {
        // The page is past the end now (queues went away): back to the last one.
        offset = Math.floor((overview.total - 1) / OVERVIEW_PAGE) * OVERVIEW_PAGE;
        setTimeout(() => counts.now(), 0);
        return;
      }
      renderQueues(overview);
      // Another page or filter: its sparklines now, not at the next 10-second poll.
      if (seriesAsked !== null && seriesAsked !== seriesURL()) activity.now();
      // Asked for another page or filter while this answer was on its way: ask again.
      if (asked.offset !== offset || asked.filter !== wantedFilter()) setTimeout(() => counts.now(), 0);
    }, REFRESH_MS);
    // The hour of the queues on the page, and of the chart's queue when it is on another
    // page (the whole document was megabytes at 10,000 queues, sent again every 10 s).
    const pageSeries = seriesKeeper();
    const chartSeries = seriesKeeper();
    const seriesURL = () => '/api/series?limit=' + OVERVIEW_PAGE + '&offset=' + offset + (wantedFilter() ? '&filter=' + q(wantedFilter()) : '');
    let seriesAsked = null;
    const activity = poller(async () => {
      seriesAsked = seriesURL();
      const page = await pageSeries(seriesAsked);
      const shown = chartQueue.value;
      const elsewhere = shown && !(page.listed || []).includes(shown);
      return { page, chart: elsewhere ? await chartSeries('/api/series?queue=' + q(shown)) : page };
    }, (data) => {
      series = data.page;
      chartData = data.chart;
      renderCharts();
      renderSparks();
    }, () => (series && series.interval_ms) || 10000);
    return { stop() { counts.stop(); activity.stop(); clearTimeout(filterTimer); } };
  }

  // ---------------------------------------------------------------- queue page

  const SETTINGS = [
    { key: 'rate', label: 'Rate', hint: 'jobs started per window, e.g. 100/1s', read: (c) => prettyDurations(c.rate) },
    { key: 'group_rate', label: 'Group rate', hint: 'per group, e.g. 10/1s', read: (c) => prettyDurations(c.group_rate) },
    { key: 'concurrency', label: 'Concurrency', hint: 'most jobs active at once', read: (c) => (c.concurrency == null ? '' : String(c.concurrency)), type: 'number' },
    { key: 'attempts', label: 'Attempts', hint: 'default for new jobs, 1-1000', read: (c) => (c.attempts == null ? '' : String(c.attempts)), type: 'number' },
    { key: 'backoff', label: 'Backoff', hint: 'fixed:5s or exp:1s:1h', read: (c) => prettyDurations(c.backoff) },
    { key: 'jitter', label: 'Jitter', hint: 'fraction 0-1', read: (c) => (c.jitter == null ? '' : String(c.jitter)) },
    { key: 'lease', label: 'Lease', hint: 'e.g. 30s', read: (c) => wireDuration(c.lease_ms) },
    { key: 'keep_completed', label: 'Keep completed', hint: 'completed jobs kept', read: (c) => (c.keep_completed == null ? '' : String(c.keep_completed)), type: 'number' },
    { key: 'keep_dead', label: 'Keep dead', hint: 'dead jobs kept', read: (c) => (c.keep_dead == null ? '' : String(c.keep_dead)), type: 'number' },
  ];

  function readLimit() {
    try {
      const n = Number(localStorage.getItem('docket.pageSize'));
      return [25, 50, 100, 200, 500].includes(n) ? n : 100;
    } catch (_) { return 100; }
  }

  function queueView(root, name, initialState) {
    let state = STATES.includes(initialState) ? initialState : 'waiting';
    let doc = null;
    let limit = readLimit();
    let cursors = [null];
    let page = null;
    let listToken = 0;

    const title = h('h1', { tabindex: '-1' }, h('span', { class: 'muted' }, 'Queue '), h('span', { id: 'queue-name', testid: 'queue-name' }, name));
    const badges = h('span', { id: 'queue-badges', class: 'badges', testid: 'queue-badges' });
    const pauseButton = actionButton('Pause', { id: 'pause-queue', testid: 'pause-queue', title: 'Nothing of this queue starts; ENQ still works' }, async () => {
      if (await perform(() => post('/api/queue/pause?name=' + q(name)), 'Queue ' + name + ' paused')) refresh.now();
    });
    const resumeButton = actionButton('Resume', { id: 'resume-queue', testid: 'resume-queue', class: 'btn btn-primary' }, async () => {
      if (await perform(() => post('/api/queue/resume?name=' + q(name)), 'Queue ' + name + ' resumed')) refresh.now();
    });
    const retryAll = actionButton('Retry all dead', { id: 'retry-all-dead', testid: 'retry-all-dead' }, async () => {
      const dead = doc ? doc.jobs.dead : 0;
      if (!(await confirmAction('Retry every dead job?', 'Every dead job of queue "' + name + '" (' + fmtInt(dead) + ' now) runs again, with its attempts reset.', 'Retry all'))) return;
      if (await perform(() => post('/api/queue/retry?name=' + q(name)), (a) => 'Retried ' + fmtInt(a.count) + ' dead jobs of ' + name)) {
        refresh.now();
        loadPage();
      }
    });
    const headerActions = h('div', { class: 'actions' }, ADMIN ? [pauseButton, resumeButton, retryAll] : null);

    const stats = h('dl', { class: 'kpis', id: 'queue-stats', testid: 'queue-stats' });
    const totals = h('dl', { class: 'stats', id: 'queue-totals', testid: 'queue-totals' });

    // Settings.
    const inputs = {};
    const form = h('form', { id: 'settings-form', testid: 'settings-form', class: 'settings', novalidate: true },
      SETTINGS.map((setting) => {
        const input = h('input', {
          id: 'setting-' + setting.key, name: setting.key, testid: 'setting-' + setting.key,
          type: 'text', inputmode: setting.type === 'number' ? 'numeric' : null, autocomplete: 'off',
          placeholder: 'none', disabled: !ADMIN, 'aria-describedby': 'hint-' + setting.key,
        });
        inputs[setting.key] = input;
        return h('div', { class: 'field' },
          h('label', { for: 'setting-' + setting.key }, setting.label), input,
          h('small', { id: 'hint-' + setting.key, class: 'muted' }, setting.hint));
      }),
      ADMIN ? h('div', { class: 'field field-buttons' },
        h('button', { type: 'submit', class: 'btn btn-primary', id: 'settings-save', testid: 'settings-save' }, 'Save settings'),
        h('button', { type: 'button', class: 'btn', id: 'settings-revert', testid: 'settings-revert', onclick: () => fillSettings(true) }, 'Revert')) : null,
      h('p', { class: 'muted form-note' }, 'An empty field returns the setting to its default. Attempts, backoff, jitter and lease apply to jobs enqueued from now on.'));
    form.addEventListener('input', markDirty);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const changes = [];
      for (const setting of SETTINGS) {
        const input = inputs[setting.key];
        const value = input.value.trim();
        if (value === input.dataset.server) continue;
        if (/\s/.test(value)) { showError(new ApiError('BAD_OPTION', setting.label + ': no blanks inside a value')); input.focus(); return; }
        changes.push(setting.key + '=' + (value === '' ? 'none' : value));
      }
      if (changes.length === 0) { showMessage('info', 'Nothing to save', 'No setting was changed.', { timeout: 4000 }); return; }
      const save = document.getElementById('settings-save');
      save.disabled = true;
      try {
        if (await perform(() => post('/api/queue/settings?name=' + q(name), changes.join(' ')), 'Saved ' + changes.join(' '))) {
          doc = await api('/api/queue?name=' + q(name)).catch(() => doc);
          fillSettings(true);
          if (doc) renderDoc();
        }
      } finally { save.disabled = false; }
    });

    function markDirty() {
      for (const setting of SETTINGS) {
        const input = inputs[setting.key];
        input.classList.toggle('dirty', input.value.trim() !== input.dataset.server);
      }
    }

    function fillSettings(force) {
      if (!doc) return;
      for (const setting of SETTINGS) {
        const input = inputs[setting.key];
        const value = setting.read(doc.config || {});
        const untouched = input.dataset.server === undefined || input.value.trim() === input.dataset.server;
        if (force || untouched) input.value = value;
        input.dataset.server = value;
      }
      markDirty();
    }

    // Jobs.
    const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Job states', id: 'state-tabs' });
    const tabButtons = {};
    for (const st of STATES) {
      const count = h('span', { class: 'tab-count', testid: 'tab-count' });
      const button = h('button', {
        type: 'button', role: 'tab', class: 'tab', id: 'tab-' + st, testid: 'tab-' + st, 'aria-controls': 'jobs-panel', dataset: { state: st },
        onclick: () => selectState(st),
      }, st, ' ', count);
      tabButtons[st] = { button, count };
      tabs.appendChild(button);
    }
    tabs.addEventListener('keydown', (event) => {
      if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
      const i = STATES.indexOf(state) + (event.key === 'ArrowRight' ? 1 : STATES.length - 1);
      selectState(STATES[i % STATES.length]);
      tabButtons[state].button.focus();
    });

    const purgeOlder = h('input', { type: 'text', id: 'purge-older', testid: 'purge-older', placeholder: 'older than…', size: 9, 'aria-label': 'Purge only jobs older than (e.g. 7d, 12h; empty: any age)', title: 'Purge only jobs older than this (e.g. 7d, 12h); empty: any age' });
    const purgeButton = actionButton('Purge', { id: 'purge-state', testid: 'purge-state', class: 'btn btn-danger' }, async () => {
      const older = purgeOlder.value.trim();
      const count = doc ? doc.jobs[state] : null;
      const what = older ? state + ' jobs older than ' + older : 'every ' + state + ' job (' + fmtInt(count) + ' now)';
      if (!(await confirmAction('Purge ' + state + ' jobs?', 'This deletes ' + what + ' of queue "' + name + '". It cannot be undone.', 'Purge'))) return;
      const path = '/api/queue/purge?name=' + q(name) + '&state=' + q(state) + (older ? '&older=' + q(older) : '');
      if (await perform(() => post(path), (a) => 'Purged ' + fmtInt(a.count) + ' ' + state + ' jobs of ' + name)) {
        cursors = [null];
        refresh.now();
        loadPage();
      }
    });
    const purgeControls = h('div', { class: 'actions', id: 'purge-controls' }, purgeOlder, purgeButton);
    const pageSize = h('select', { id: 'page-size', testid: 'page-size', 'aria-label': 'Jobs per page' },
      [25, 50, 100, 200, 500].map((n) => h('option', { value: String(n) }, n + ' per page')));
    pageSize.value = String(limit);
    pageSize.addEventListener('change', () => {
      limit = Number(pageSize.value);
      try { localStorage.setItem('docket.pageSize', String(limit)); } catch (_) { /* private mode */ }
      cursors = [null];
      loadPage();
    });
    const prevButton = h('button', { type: 'button', class: 'btn', id: 'page-prev', testid: 'page-prev', onclick: () => { if (cursors.length > 1) { cursors.pop(); loadPage(); } } }, '← Previous');
    const nextButton = h('button', { type: 'button', class: 'btn', id: 'page-next', testid: 'page-next', onclick: () => { if (page && page.next) { cursors.push(page.next); loadPage(); } } }, 'Next →');
    const pageInfo = h('span', { id: 'page-info', testid: 'page-info', class: 'muted', 'aria-live': 'polite' });
    const firstButton = h('button', { type: 'button', class: 'btn', id: 'page-first', testid: 'page-first', onclick: () => { cursors = [null]; loadPage(); } }, '⇤ First');
    const jobsHost = h('div', { class: 'scroll', id: 'jobs-panel', role: 'tabpanel' });
    let jobsTable = null;
    let jobsColumns = null;

    root.append(
      h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Overview'), ' / ', name),
      h('div', { class: 'title-row' }, title, badges, headerActions),
      stats,
      h('div', { class: 'queue-layout' },
        section(null,
          h('div', { class: 'tabs-row' }, tabs, ADMIN ? purgeControls : null),
          h('div', { class: 'toolbar' },
            h('div', { class: 'pager' }, firstButton, prevButton, pageInfo, nextButton, pageSize)),
          jobsHost),
        h('aside', null,
          h('details', { class: 'panel', id: 'settings-panel', open: true }, h('summary', null, h('h2', null, 'Settings')), form),
          section('Totals (whole life)', totals))),
      h('details', { class: 'panel', id: 'queue-charts-panel' }, h('summary', null, h('h2', null, 'Activity, last hour')), h('div', { id: 'queue-charts' })));

    // The charts follow the queue's hour while they are open (a point every 10 s), asking
    // only for the points that are new.
    const chartsPanel = root.querySelector('#queue-charts-panel');
    const queueSeries = seriesKeeper();
    let charts = null;
    chartsPanel.addEventListener('toggle', () => {
      if (chartsPanel.open && !charts && !stopped) {
        let interval = 10000;
        charts = poller(() => queueSeries('/api/series?queue=' + q(name)), (series) => {
          interval = series.interval_ms || interval;
          root.querySelector('#queue-charts').replaceChildren(seriesCharts(series, name));
        }, () => interval);
      } else if (!chartsPanel.open && charts) {
        charts.stop();
        charts = null;
      }
    });

    function dd(list, label, value, testid) {
      list.appendChild(h('div', { class: 'stat' }, h('dt', null, label), h('dd', { testid: testid || null }, value)));
    }

    function renderDoc() {
      setText(document.querySelector('title'), name + ' · Docket');
      badges.replaceChildren(...queueBadges(doc));
      if (ADMIN) {
        pauseButton.hidden = !!doc.paused;
        resumeButton.hidden = !doc.paused;
        retryAll.hidden = !(doc.jobs.dead > 0);
      }
      for (const st of STATES) {
        setText(tabButtons[st].count, fmtInt(doc.jobs[st]));
        tabButtons[st].count.dataset.value = String(doc.jobs[st]);
      }
      stats.replaceChildren();
      const rates = doc.rates || {};
      dd(stats, 'Status', doc.paused ? 'paused' : doc.blocked_by ? 'held: ' + doc.blocked_by : 'running', 'stat-status');
      dd(stats, 'Active', fmtInt(doc.active), 'stat-active');
      dd(stats, 'Workers waiting', fmtInt(doc.waiting_workers), 'stat-waiting-workers');
      dd(stats, 'Oldest waiting', doc.oldest_waiting_ms == null ? '—' : fmtDuration(doc.oldest_waiting_ms), 'stat-oldest-waiting');
      dd(stats, 'Started/s', fmtRate(rates.started_per_s), 'stat-started-rate');
      dd(stats, 'Completed/s', fmtRate(rates.completed_per_s), 'stat-completed-rate');
      dd(stats, 'Failed/s', fmtRate(rates.failed_per_s), 'stat-failed-rate');
      dd(stats, 'Dead/s', fmtRate(rates.dead_per_s), 'stat-dead-rate');
      if (doc.rate_window_starts != null) dd(stats, 'Starts in rate window', fmtInt(doc.rate_window_starts), 'stat-window');
      if (doc.next_start_at != null) dd(stats, 'Next start', timeNode(doc.next_start_at), 'stat-next-start');
      if (doc.held_until != null) dd(stats, 'Throttled until', timeNode(doc.held_until), 'stat-held-until');
      dd(stats, 'Concurrency', doc.config && doc.config.concurrency != null ? fmtInt(doc.config.concurrency) : 'no limit', 'stat-concurrency');
      dd(stats, 'Rate', doc.config && doc.config.rate ? prettyDurations(doc.config.rate) : 'no limit', 'stat-rate');
      totals.replaceChildren();
      for (const key of ['enqueued', 'started', 'completed', 'failed', 'dead', 'throttled', 'removed', 'deleted']) {
        dd(totals, key[0].toUpperCase() + key.slice(1), fmtInt(doc.totals ? doc.totals[key] : null), 'total-' + key);
      }
      if (ADMIN) {
        purgeControls.hidden = !PURGEABLE.has(state);
        purgeButton.textContent = 'Purge ' + state + '…';
      }
      renderPageInfo();
    }

    function columnsFor(st) {
      const columns = [['ID'], ['Priority', 'num'], ['Attempts', 'num']];
      if (st === 'waiting') columns.push(['Enqueued'], ['Runnable since']);
      if (st === 'delayed') columns.push(['Enqueued'], ['Runs at']);
      if (st === 'active') columns.push(['Started'], ['Progress']);
      if (st === 'completed') columns.push(['Finished'], ['Result']);
      if (st === 'dead') columns.push(['Finished'], ['Last error']);
      columns.push(['Group'], ['Payload', 'num']);
      if (ADMIN) columns.push(['Actions']);
      return columns;
    }

    function jobRow(job) {
      const cells = [h('th', { scope: 'row' }, jobLink(job.id)), h('td', { class: 'num' }, String(job.priority)),
        h('td', { class: 'num' }, job.attempts + '/' + job.max_attempts)];
      if (state === 'waiting') cells.push(h('td', null, timeNode(job.enqueued_at)), h('td', null, timeNode(job.run_at)));
      if (state === 'delayed') cells.push(h('td', null, timeNode(job.enqueued_at)),
        h('td', null, timeNode(job.run_at), job.run_at ? h('span', { class: 'muted' }, ' ' + fmtRelative(job.run_at)) : null));
      if (state === 'active') {
        const bar = h('progress', { max: 100, value: job.progress || 0 });
        cells.push(h('td', null, timeNode(job.started_at)),
          h('td', null, bar, ' ', (job.progress || 0) + '%', job.progress_note ? h('span', { class: 'muted wrap' }, ' ' + truncate(job.progress_note, 60)) : null));
      }
      if (state === 'completed') cells.push(h('td', null, timeNode(job.finished_at)), h('td', { class: 'mono clip fill', title: job.result || '' }, truncate(job.result, 80)));
      if (state === 'dead') cells.push(h('td', null, timeNode(job.finished_at)), h('td', { class: 'mono clip fill error-text', title: job.last_error || '' }, truncate(job.last_error, 80)));
      cells.push(h('td', { class: 'wrap' }, job.group == null ? h('span', { class: 'muted' }, '—') : job.group), h('td', { class: 'num' }, fmtBytes(job.payload_bytes)));
      if (ADMIN) cells.push(h('td', { class: 'row-actions' }, jobActions(job, () => { loadPage(); refresh.now(); })));
      return h('tr', { testid: 'job-row', dataset: { id: job.id, state: job.state } }, cells);
    }

    function renderPage() {
      const columns = columnsFor(state);
      const key = state + ':' + columns.length;
      if (!jobsTable || jobsColumns !== key) {
        jobsTable = table(columns, { id: 'jobs', testid: 'jobs-table', 'aria-label': state + ' jobs' });
        jobsColumns = key;
        jobsHost.replaceChildren(jobsTable.node);
      }
      if (!page) return;
      if (page.jobs.length === 0) {
        emptyRow(jobsTable.tbody, columns.length, cursors.length > 1 ? 'No more ' + state + ' jobs on this page.' : 'No ' + state + ' jobs.');
      } else {
        const empty = jobsTable.tbody.querySelector('tr.empty');
        if (empty) empty.remove();
        syncRows(jobsTable.tbody, page.jobs, (job) => job.id, (job) => JSON.stringify(job), jobRow);
      }
      renderPageInfo();
    }

    function renderPageInfo() {
      prevButton.disabled = cursors.length <= 1;
      firstButton.disabled = cursors.length <= 1;
      nextButton.disabled = !(page && page.next);
      if (!page) { setText(pageInfo, 'Loading…'); return; }
      const first = (cursors.length - 1) * limit;
      const total = doc ? doc.jobs[state] : null;
      const range = page.jobs.length ? fmtInt(first + 1) + '–' + fmtInt(first + page.jobs.length) : 'none';
      setText(pageInfo, 'Page ' + cursors.length + ' · jobs ' + range + (total != null ? ' of ' + fmtInt(total) : ''));
      pageInfo.dataset.page = String(cursors.length);
    }

    let pageLoads = 0;
    async function loadPage() {
      pageLoads++;
      try { await loadPageNow(); } finally { pageLoads--; }
    }

    async function loadPageNow() {
      const token = ++listToken;
      const after = cursors[cursors.length - 1];
      const path = '/api/jobs?queue=' + q(name) + '&state=' + q(state) + '&limit=' + limit + (after ? '&after=' + q(after) : '');
      try {
        const result = await api(path);
        if (token !== listToken || stopped) return;
        // A failure reported by an earlier load is over (docketd restarted, or answers again).
        clearMessage('jobs');
        page = result;
        renderPage();
      } catch (error) {
        if (token === listToken && !stopped) showError(error, 'jobs');
      }
    }

    function selectState(st) {
      if (st === state && page) return;
      state = st;
      cursors = [null];
      page = null;
      for (const other of STATES) {
        tabButtons[other].button.setAttribute('aria-selected', String(other === st));
        tabButtons[other].button.tabIndex = other === st ? 0 : -1;
      }
      history.replaceState(null, '', '#/queue/' + q(name) + '/' + st);
      renderPage();
      if (doc) renderDoc();
      loadPage();
    }

    let stopped = false;
    const refresh = poller(() => api('/api/queue?name=' + q(name)), (result) => {
      doc = result;
      renderDoc();
      fillSettings(false);
    }, REFRESH_MS);
    // The current page again, every 2 s: rows that did not change stay as they are. Not while
    // a load is still waiting: a docketd that does not answer is not sent one more each time.
    const pageTimer = setInterval(() => { if (!document.hidden && pageLoads === 0) loadPage(); }, REFRESH_MS);
    const started = state;
    state = null;
    selectState(started);
    return { stop() { stopped = true; refresh.stop(); clearInterval(pageTimer); if (charts) charts.stop(); } };
  }

  // Retry / promote / delete for one job.
  function jobActions(job, after, options) {
    options = options || {};
    const buttons = [];
    if (job.state === 'dead') {
      buttons.push(actionButton('Retry', { class: 'btn btn-small btn-primary', testid: 'job-retry', title: 'Run job ' + job.id + ' again' }, async () => {
        if (await perform(() => post('/api/job/retry?id=' + job.id), 'Job ' + job.id + ' will run again')) after('retry');
      }));
    }
    if (job.state === 'delayed') {
      buttons.push(actionButton('Promote', { class: 'btn btn-small', testid: 'job-promote', title: 'Make job ' + job.id + ' waiting now' }, async () => {
        if (await perform(() => post('/api/job/promote?id=' + job.id), 'Job ' + job.id + ' is waiting now')) after('promote');
      }));
    }
    buttons.push(actionButton('Delete', { class: 'btn btn-small btn-danger', testid: 'job-delete', title: 'Forget job ' + job.id }, async () => {
      const extra = job.state === 'active' ? ' A worker holds it now: its acknowledgement will be refused.' : '';
      if (!(await confirmAction('Delete job ' + job.id + '?', 'Job ' + job.id + ' of queue "' + job.queue + '" (' + job.state + ') is forgotten.' + extra, 'Delete'))) return;
      if (await perform(() => post('/api/job/delete?id=' + job.id), 'Job ' + job.id + ' deleted')) after('delete');
    }));
    return options.wrap ? h('div', { class: 'actions' }, buttons) : buttons;
  }

  // ---------------------------------------------------------------- job page

  function hexDump(bytes) {
    const lines = [];
    for (let offset = 0; offset < bytes.length; offset += 16) {
      const chunk = bytes.subarray(offset, offset + 16);
      let hex = '';
      let ascii = '';
      for (let i = 0; i < 16; i++) {
        if (i < chunk.length) {
          hex += chunk[i].toString(16).padStart(2, '0') + ' ';
          ascii += chunk[i] >= 0x20 && chunk[i] < 0x7f ? String.fromCharCode(chunk[i]) : '.';
        } else {
          hex += '   ';
        }
        if (i === 7) hex += ' ';
      }
      lines.push(offset.toString(16).padStart(8, '0') + '  ' + hex + ' |' + ascii + '|');
    }
    return lines.join('\n');
  }

  function decodeBase64(text) {
    const raw = atob(text || '');
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // JSON pretty-printed from its own text: the blanks between tokens are replaced (two spaces an
  // indent, as JSON.stringify(v, null, 2) lays it out) and every token is kept as written, so a
  // 64-bit id, 1e400, -0, 1.50 or a key given twice shows what the payload says, not what a
  // JavaScript value of it would be. null when the text is not exactly one JSON value, or when
  // its indented form would be larger than INDENT_LIMIT characters (deep nesting).
  const INDENT_LIMIT = 2 * 1024 * 1024;

  function jsonStringEnd(text, start) {
    const n = text.length;
    let i = start + 1;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) return i + 1;
      if (c < 0x20) return -1;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return -1;
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          return -1;
        }
      } else {
        i++;
      }
    }
    return -1;
  }

  function jsonNumberEnd(text, start) {
    const digit = (k) => k < text.length && text[k] >= '0' && text[k] <= '9';
    let i = start;
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (digit(i)) while (digit(i)) i++;
    else return -1;
    if (text[i] === '.') {
      i++;
      if (!digit(i)) return -1;
      while (digit(i)) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!digit(i)) return -1;
      while (digit(i)) i++;
    }
    return i;
  }

  function reindentJson(text) {
    const out = [];
    let size = 0;
    const stack = []; // the open brackets, '{' or '['
    // What may come next: 'value', 'key', 'colon', 'next' (a comma or the close),
    // 'first-value' and 'first-key' (just after an opening bracket: also its close).
    let expect = 'value';
    let done = false;
    const n = text.length;
    let i = 0;
    const emit = (piece) => { out.push(piece); size += piece.length; };
    const newline = (depth) => emit('\n' + '  '.repeat(depth));
    const closeWith = { '{': '}', '[': ']' };
    const afterValue = () => { if (stack.length === 0) done = true; else expect = 'next'; };
    while (size <= INDENT_LIMIT) {
      while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
      if (i >= n) return done ? out.join('') : null;
      if (done) return null;
      const c = text[i];
      const top = stack[stack.length - 1];
      if ((expect === 'first-value' || expect === 'first-key' || expect === 'next') && c === closeWith[top]) {
        stack.pop();
        if (expect === 'next') newline(stack.length);
        emit(c);
        i++;
        afterValue();
        continue;
      }
      if (expect === 'next') {
        if (c !== ',') return null;
        emit(',');
        newline(stack.length);
        i++;
        expect = top === '{' ? 'key' : 'value';
        continue;
      }
      if (expect === 'colon') {
        if (c !== ':') return null;
        emit(': ');
        i++;
        expect = 'value';
        continue;
      }
      if (expect === 'first-value' || expect === 'first-key') newline(stack.length);
      if (expect === 'key' || expect === 'first-key') {
        if (c !== '"') return null;
        const end = jsonStringEnd(text, i);
        if (end < 0) return null;
        emit(text.slice(i, end));
        i = end;
        expect = 'colon';
        continue;
      }
      // A value.
      if (c === '{' || c === '[') {
        stack.push(c);
        emit(c);
        i++;
        expect = c === '{' ? 'first-key' : 'first-value';
        continue;
      }
      let end = -1;
      if (c === '"') end = jsonStringEnd(text, i);
      else if (c === '-' || (c >= '0' && c <= '9')) end = jsonNumberEnd(text, i);
      else {
        for (const word of ['true', 'false', 'null']) if (text.startsWith(word, i)) end = i + word.length;
      }
      if (end < 0) return null;
      emit(text.slice(i, end));
      i = end;
      afterValue();
    }
    return null;
  }

  // {format, text}: JSON re-indented (every token as written) when the text is JSON, the text
  // as it is, or a hex dump.
  function presentPayload(payload) {
    if (payload.text != null) {
      const trimmed = payload.text.trim();
      if (!payload.truncated && (trimmed.startsWith('{') || trimmed.startsWith('['))) {
        const pretty = reindentJson(payload.text);
        if (pretty != null) return { format: 'json', text: pretty };
      }
      return { format: 'text', text: payload.text };
    }
    return { format: 'hex', text: hexDump(decodeBase64(payload.base64)) };
  }

  // A progress note as a wrapping block (a note without blanks must not widen the page); a
  // long one shows its start and says how much is left out.
  const NOTE_SHOWN = 2000;

  function progressNote(note) {
    note = String(note);
    const shown = textStart(note, NOTE_SHOWN);
    return [
      h('pre', { class: 'code progress-note', id: 'job-progress-note', testid: 'job-progress-note', tabindex: '0' },
        shown.length < note.length ? shown + '…' : shown),
      shown.length < note.length
        ? h('p', { class: 'muted', testid: 'job-progress-note-clipped' },
          'The first ' + fmtInt(shown.length) + ' of ' + fmtInt(note.length) + ' characters of the note.')
        : null,
    ];
  }

  const EVENT_DETAILS = ['error', 'next', 'retry_in_ms', 'wait_ms', 'run_ms', 'result_bytes', 'progress', 'note', 'schedule', 'tick', 'group'];

  // Each value in a <bdi> of its own: a right-to-left override or mark in an error or a note
  // (untrusted text) then reorders only that value, not the labels and values after it.
  function eventDetails(event) {
    const nodes = [];
    for (const key of EVENT_DETAILS) {
      if (event[key] == null) continue;
      let value = event[key];
      if (key.endsWith('_ms')) value = fmtDuration(value);
      else if (key === 'tick') value = fmtTimestamp(value);
      else if (key === 'progress') value = value + '%';
      if (nodes.length) nodes.push(' · ');
      nodes.push(key.replace(/_ms$/, '') + ': ', h('bdi', null, String(truncate(value, 200))));
    }
    return nodes;
  }

  const CHILDREN_PAGE = 20;

  // A job's flow: its parents (PARENTS, each with its state now) and its children a page at a
  // time (CHILDREN with each child's document), each a link to its job's page. Hidden for a
  // job with neither. `afters` are the `after=` of the pages turned to (from the address, so a
  // reload or the back button comes back to the same page); `remember` is told them at each turn.
  function flowPanel(turned, afters, remember) {
    const parents = table(['Job', 'Queue', 'State'], { id: 'job-parents', testid: 'job-parents' });
    const children = table(['Job', 'Queue', 'State'], { id: 'job-children', testid: 'job-children' });
    let cursors = [null].concat(afters);
    let next = null;
    const turn = (step) => {
      if (step > 0 && next != null) cursors.push(next);
      if (step < 0 && cursors.length > 1) cursors.pop();
      remember(cursors.slice(1));
      turned();
    };
    const prev = h('button', { type: 'button', class: 'btn', id: 'children-prev', testid: 'children-prev', onclick: () => turn(-1) }, '← Previous');
    const nextButton = h('button', { type: 'button', class: 'btn', id: 'children-next', testid: 'children-next', onclick: () => turn(1) }, 'Next →');
    const info = h('span', { class: 'muted', id: 'children-page-info', testid: 'children-page-info', 'aria-live': 'polite' });
    const pager = h('div', { class: 'pager', id: 'children-pager', testid: 'children-pager' }, prev, info, nextButton);
    const parentsPart = h('div', { id: 'job-parents-part' }, h('h3', null, 'Parents'),
      h('p', { class: 'muted' }, 'The jobs it was enqueued after=: it waits until they have completed.'), h('div', { class: 'scroll' }, parents.node));
    const childrenPart = h('div', { id: 'job-children-part' }, h('h3', null, 'Children'),
      h('p', { class: 'muted' }, 'The jobs enqueued after= it, by id.'), h('div', { class: 'scroll' }, children.node), pager);
    const node = section('Flow', parentsPart, childrenPart);
    node.id = 'job-flow';
    node.hidden = true;

    function row(job) {
      return h('tr', { testid: 'flow-row', dataset: { id: String(job.id), state: job.state } },
        h('td', null, jobLink(job.id)), h('td', null, job.queue == null ? '—' : queueLink(job.queue)), h('td', null, stateBadge(job.state)));
    }

    function render(job, parentList, page) {
      node.hidden = !job.parents && !job.children;
      parentsPart.hidden = !job.parents;
      childrenPart.hidden = !job.children;
      // Rows stay the same elements while their job's state does, so a link keeps the keyboard's
      // focus across refreshes.
      const sync = (tbody, jobs) => syncRows(tbody, jobs, (job) => job.id, (job) => job.queue + ' ' + job.state, row);
      if (parentList) {
        if (parentList.length === 0) emptyRow(parents.tbody, 3, 'None you may read.');
        else sync(parents.tbody, parentList);
      }
      if (!page) return;
      next = page.next;
      if (page.children.length === 0) emptyRow(children.tbody, 3, cursors.length > 1 ? 'No more children.' : 'None you may read.');
      else sync(children.tbody, page.children);
      prev.disabled = cursors.length <= 1;
      nextButton.disabled = next == null;
      pager.hidden = cursors.length <= 1 && next == null;
      const first = (cursors.length - 1) * CHILDREN_PAGE;
      // INSPECT lists the first 1,000 children, and says whether there are more.
      const total = job.children_truncated ? 'more than ' + fmtInt(job.children.length) : fmtInt((job.children || []).length);
      setText(info, 'Page ' + cursors.length + ' · children ' + (page.children.length ? fmtInt(first + 1) + '–' + fmtInt(first + page.children.length) : 'none') + ' of ' + total);
      info.dataset.page = String(cursors.length);
    }

    function childrenPath(id) {
      const after = cursors[cursors.length - 1];
      return '/api/job/children?id=' + id + '&limit=' + CHILDREN_PAGE + (after != null ? '&after=' + after : '');
    }

    return { node, render, childrenPath };
  }

  function jobView(root, idText, childPages) {
    const id = /^\d+$/.test(idText) ? idText : null;
    if (!id) {
      root.append(h('h1', null, 'No such job'), h('p', null, 'Job ids are positive numbers.'));
      return { stop() {} };
    }
    const heading = h('h1', { tabindex: '-1' }, 'Job ', h('span', { id: 'job-id', testid: 'job-id' }, '#' + id));
    const badgeHost = h('span', { class: 'badges', id: 'job-state', testid: 'job-state' });
    const actionsHost = h('div', { class: 'actions', id: 'job-actions' });
    const crumbs = h('div', { class: 'crumbs' }, h('a', { href: '#/' }, 'Overview'), ' / ', h('span', { id: 'job-crumb-queue' }), ' / #' + id);
    const fields = h('dl', { class: 'fields', id: 'job-fields', testid: 'job-fields' });
    const payloadInfo = h('p', { class: 'muted', id: 'job-payload-info' });
    const payloadPre = h('pre', { class: 'code', id: 'job-payload', testid: 'job-payload', tabindex: '0' });
    const resultPre = h('pre', { class: 'code', id: 'job-result', testid: 'job-result', tabindex: '0' });
    const errorPre = h('pre', { class: 'code error-text', id: 'job-error', testid: 'job-error', tabindex: '0' });
    const progressHost = h('div', { id: 'job-progress', testid: 'job-progress' });
    const events = table([['Seq', 'num'], 'Time', 'Event', ['Attempt', 'num'], 'State', 'Details'], { id: 'job-events', testid: 'job-events' });
    const attempts = table([['Attempt', 'num'], 'Started', 'Ended', ['Ran', 'num'], 'Outcome', 'Error'], { id: 'job-attempts', testid: 'job-attempts' });
    const resultSection = section('Result', resultPre);
    const errorSection = section('Last error', errorPre);
    const progressSection = section('Progress', progressHost);
    // The children's page is in the address: `#/job/<id>/children/<after>,<after>…`.
    const afters = (childPages || '').split(',').filter((after) => /^\d+$/.test(after));
    const flow = flowPanel(() => refresh.now(), afters, (turned) => {
      history.replaceState(null, '', '#/job/' + id + (turned.length ? '/children/' + turned.join(',') : ''));
    });
    root.append(crumbs, h('div', { class: 'title-row' }, heading, badgeHost, actionsHost),
      section(null, fields),
      h('div', { class: 'columns' },
        section('Payload', payloadInfo, payloadPre),
        h('div', { class: 'job-side' }, progressSection, errorSection, resultSection)),
      flow.node,
      section('Attempts', h('p', { class: 'muted' }, 'Every attempt that failed (the last 10 kept with the job), and the one running or that completed it.'),
        h('div', { class: 'scroll' }, attempts.node)),
      section('Events', h('p', { class: 'muted' }, 'What this server still remembers of the job (it remembers events while a dashboard is open).'),
        h('div', { class: 'scroll' }, events.node)));

    let lastSig = null;
    let payloadShown = false;
    let finalState = false;
    let gone = false;

    function field(label, value, key) {
      fields.appendChild(h('div', { class: 'field-row' }, h('dt', null, label), h('dd', { dataset: { field: key } }, value)));
    }

    function render(data) {
      const job = data.job;
      finalState = job.state === 'completed' || job.state === 'dead';
      setText(document.querySelector('title'), 'Job ' + job.id + ' · Docket');
      const sig = JSON.stringify(job);
      if (sig !== lastSig) {
        lastSig = sig;
        badgeHost.replaceChildren(stateBadge(job.state));
        const crumbQueue = root.querySelector('#job-crumb-queue');
        crumbQueue.replaceChildren(h('a', { href: '#/queue/' + q(job.queue) + '/' + job.state }, job.queue));
        if (ADMIN) actionsHost.replaceChildren(...jobActions(job, (what) => {
          if (what === 'delete') location.hash = '#/queue/' + q(job.queue) + '/' + job.state;
          else refresh.now();
        }));
        fields.replaceChildren();
        field('ID', String(job.id), 'id');
        field('Queue', queueLink(job.queue), 'queue');
        field('State', job.state, 'state');
        field('Priority', String(job.priority), 'priority');
        field('Attempts', job.attempts + ' of ' + job.max_attempts, 'attempts');
        field('Backoff', prettyDurations(job.backoff) + (job.jitter ? ', jitter ' + job.jitter : ''), 'backoff');
        field('Lease', fmtDuration(job.lease_ms), 'lease');
        field('Key', job.key == null ? '—' : job.key, 'key');
        field('Group', job.group == null ? '—' : job.group, 'group');
        field('Enqueued', timeNode(job.enqueued_at), 'enqueued_at');
        field('Run at', timeNode(job.run_at), 'run_at');
        field('Started', timeNode(job.started_at), 'started_at');
        field('Finished', timeNode(job.finished_at), 'finished_at');
        field('Expires', timeNode(job.expires_at), 'expires_at');
        field('Payload', fmtBytes(job.payload_bytes), 'payload_bytes');
        progressSection.hidden = !(job.progress || job.progress_note);
        // append() skips a missing note; replaceChildren(null) would show the word "null".
        progressHost.replaceChildren();
        append(progressHost, [h('progress', { max: 100, value: job.progress || 0 }), ' ', (job.progress || 0) + '%',
          job.progress_note ? progressNote(job.progress_note) : null]);
        errorSection.hidden = job.last_error == null;
        errorPre.textContent = job.last_error == null ? '' : job.last_error;
        resultSection.hidden = job.result == null;
        resultPre.textContent = job.result == null ? '' : job.result;
        renderAttempts(job);
      }
      flow.render(job, data.parents, data.children);
      if (!payloadShown) {
        payloadShown = true;
        const shown = presentPayload(data.payload);
        payloadPre.textContent = shown.text;
        payloadPre.dataset.format = shown.format;
        payloadInfo.textContent = fmtBytes(data.payload.bytes) + ', shown as ' +
          (shown.format === 'json' ? 'JSON' : shown.format === 'text' ? 'text' : 'a hex dump (not UTF-8)') +
          (data.payload.truncated ? ' (only the first ' + fmtBytes(64 * 1024) + ')' : '');
      }
      const evs = (data.events || []).slice().reverse();
      if (evs.length === 0) emptyRow(events.tbody, 6, 'No events remembered.');
      else syncRows(events.tbody, evs, (e) => e.queue + ':' + e.seq, () => '', (e) => h('tr', { testid: 'job-event', dataset: { event: e.event } },
        h('td', { class: 'num' }, String(e.seq)), h('td', null, timeNode(e.at)), h('td', null, h('span', { class: 'badge ev-' + e.event }, e.event)),
        h('td', { class: 'num' }, e.attempt + '/' + e.max_attempts), h('td', null, e.state), h('td', { class: 'details' }, eventDetails(e))));
    }

    // The failed attempts the server keeps, then the attempt running now or the one that completed the job.
    function renderAttempts(job) {
      const rows = (job.failed_attempts || []).map((a) => ({ attempt: a.attempt, started: a.started_at, ended: a.ended_at, outcome: 'failed', error: a.error }));
      if (job.state === 'active') rows.push({ attempt: job.attempts, started: job.started_at, ended: null, outcome: 'running', error: null });
      if (job.state === 'completed') rows.push({ attempt: job.attempts, started: job.started_at, ended: job.finished_at, outcome: 'completed', error: null });
      attempts.tbody.replaceChildren();
      if (rows.length === 0) { emptyRow(attempts.tbody, 6, 'Not started yet.'); return; }
      for (const a of rows.reverse()) {
        attempts.tbody.appendChild(h('tr', { testid: 'job-attempt', dataset: { attempt: String(a.attempt), outcome: a.outcome } },
          h('td', { class: 'num' }, String(a.attempt)), h('td', null, timeNode(a.started)), h('td', null, timeNode(a.ended)),
          h('td', { class: 'num' }, a.started != null && a.ended != null ? fmtDuration(a.ended - a.started) : '—'),
          h('td', null, h('span', { class: 'badge ev-' + a.outcome }, a.outcome)),
          h('td', { class: 'mono clip error-text', title: a.error || '' }, a.error == null ? '' : truncate(a.error, 200))));
      }
    }

    const refresh = poller(async () => {
      let data;
      try {
        data = await api('/api/job?id=' + id);
      } catch (error) {
        if (error.code === 'NOT_FOUND') return null;
        throw error;
      }
      // The relatives' states change without this job's document changing: read on every tick.
      if (data.job.parents) data.parents = await api('/api/job/parents?id=' + id);
      if (data.job.children) data.children = await api(flow.childrenPath(id));
      return data;
    }, (data) => {
      if (data) { render(data); return; }
      if (gone) return;
      gone = true;
      badgeHost.replaceChildren(h('span', { class: 'badge badge-muted', testid: 'job-gone' }, 'not found'));
      actionsHost.replaceChildren();
      fields.replaceChildren(h('p', null, 'Job ' + id + ' does not exist: never created, deleted, or removed by retention.'));
    }, () => (finalState || gone ? 10000 : REFRESH_MS));
    return { stop() { refresh.stop(); } };
  }

  // ---------------------------------------------------------------- live events

  function liveView(root, queue) {
    const status = h('span', { id: 'live-status', testid: 'live-status', class: 'badge badge-muted', dataset: { state: 'connecting' } }, 'connecting');
    // A name typed, with the server's suggestions: with 10,000 queues a list of them all was the
    // first 1,024 only (one /api/overview), and took seconds to build.
    const queueInput = h('input', { type: 'search', id: 'live-queue', testid: 'live-queue', list: 'live-queue-names', 'aria-label': 'Queue',
      placeholder: 'All queues', autocomplete: 'off', spellcheck: 'false', value: queue || '' });
    const queueNames = h('datalist', { id: 'live-queue-names', testid: 'live-queue-names' });
    const filter = h('input', { type: 'search', id: 'live-filter', testid: 'live-filter', placeholder: 'Filter: event, id, error…', 'aria-label': 'Filter events' });
    const pauseButton = h('button', { type: 'button', class: 'btn', id: 'live-pause', testid: 'live-pause', 'aria-pressed': 'false' }, 'Pause');
    const clearButton = h('button', { type: 'button', class: 'btn', id: 'live-clear', testid: 'live-clear' }, 'Clear');
    const counter = h('span', { class: 'muted', id: 'live-counter', testid: 'live-counter' });
    const events = table(['Time', 'Queue', ['Seq', 'num'], 'Event', 'Job', ['Attempt', 'num'], 'State', 'Details'], { id: 'live-events', testid: 'live-events' });
    root.append(h('div', { class: 'title-row' }, h('h1', { tabindex: '-1' }, 'Live events'), status),
      section(null,
        h('div', { class: 'toolbar' }, h('div', { class: 'actions' }, h('label', null, 'Queue ', queueInput), queueNames, filter, pauseButton, clearButton), counter),
        h('p', { class: 'muted' }, 'Newest first, the last ' + LIVE_CAP + ' shown. The stream opens with the most recent events the server remembers.'),
        h('div', { class: 'scroll' }, events.node)));

    let suggested = 0;
    let suggestTimer = null;
    async function suggest() {
      const asked = ++suggested;
      const typed = queueInput.value.replace(/\s+/g, '');
      try {
        const page = await api('/api/overview?limit=' + LIVE_SUGGESTIONS + (typed ? '&filter=' + q(typed) : ''));
        if (asked === suggested) queueNames.replaceChildren(...page.queues.map((qd) => h('option', { value: qd.queue })));
      } catch (error) {
        // Suggestions only help: the stream's own state says whether docketd answers.
      }
    }
    queueInput.addEventListener('input', () => { clearTimeout(suggestTimer); suggestTimer = setTimeout(suggest, 200); });
    queueInput.addEventListener('change', () => {
      const name = queueInput.value.trim();
      location.hash = name ? '#/live/' + q(name) : '#/live';
    });
    suggest();

    // Events already taken, by queue, sequence, job, kind and time: a reconnect replays what the
    // server remembers, and those are skipped. Not by the highest sequence seen per queue: a
    // queue's sequence starts again at 1 when docketd restarts (or forgets an idle queue), and
    // everything after that would be skipped as old.
    const taken = new Set();
    const takenOrder = [];
    const TAKEN_CAP = 4 * LIVE_CAP;
    let pending = [];
    let paused = false;
    let held = [];
    let flushTimer = null;
    let received = [];
    let stopped = false;

    function matches(row) {
      const needle = filter.value.trim().toLowerCase();
      return needle === '' || row.dataset.search.includes(needle);
    }

    function eventRow(event, flash) {
      const search = [event.event, event.queue, '#' + event.id, String(event.id), event.state, event.error || ''].join(' ').toLowerCase();
      const row = h('tr', { testid: 'event-row', class: 'ev-row ev-row-' + event.event + (flash ? ' ev-arrived' : ''), dataset: { event: event.event, id: event.id, queue: event.queue, seq: event.seq, search } },
        h('td', null, h('time', { datetime: new Date(event.at).toISOString() }, fmtClock(event.at))),
        h('td', null, queueLink(event.queue)),
        h('td', { class: 'num' }, String(event.seq)),
        h('td', null, h('span', { class: 'badge ev-' + event.event }, event.event)),
        h('td', null, jobLink(event.id)),
        h('td', { class: 'num' }, event.attempt + '/' + event.max_attempts),
        h('td', null, event.state),
        h('td', { class: 'details' }, eventDetails(event)));
      row.hidden = !matches(row);
      return row;
    }

    // A busy server (10,000 events a second) had 500 rows drawn every 80 ms, each flashing as it
    // came: the tab took 0.3 s to 1.6 s to answer anything. Drawing (its layout included) now
    // waits four times as long as the last one took, so it keeps the tab busy at most a fifth of
    // the time, and only a few rows at a time flash.
    const FLUSH_MS = 80;
    const FLASHED_ROWS = 20;
    let flushWait = FLUSH_MS;
    function flush() {
      flushTimer = null;
      if (stopped || pending.length === 0) return;
      const begun = performance.now();
      const batch = pending.length > LIVE_CAP ? pending.slice(pending.length - LIVE_CAP) : pending;
      pending = [];
      const empty = events.tbody.querySelector('tr.empty');
      if (empty) empty.remove();
      const fragment = document.createDocumentFragment();
      for (let i = batch.length - 1; i >= 0; i--) fragment.appendChild(eventRow(batch[i], batch.length <= FLASHED_ROWS));
      events.tbody.insertBefore(fragment, events.tbody.firstChild);
      while (events.tbody.children.length > LIVE_CAP) events.tbody.lastElementChild.remove();
      void events.tbody.offsetHeight; // the layout now, to count it
      flushWait = Math.max(FLUSH_MS, SLOW_ANSWER_FACTOR * (performance.now() - begun));
    }

    function take(event) {
      received.push(event.at);
      if (paused) {
        held.push(event);
        if (held.length > LIVE_CAP) held.shift();
        setText(pauseButton, 'Resume (' + held.length + ' new)');
        return;
      }
      pending.push(event);
      if (flushTimer === null) flushTimer = setTimeout(flush, flushWait);
    }

    emptyRow(events.tbody, 8, 'Waiting for events…');
    const source = new EventSource('/api/events' + (queue ? '?queue=' + q(queue) : ''));
    function setStatus(state, text) {
      status.dataset.state = state;
      status.className = 'badge ' + (state === 'open' ? 'badge-ok' : state === 'error' ? 'badge-held' : 'badge-muted');
      setText(status, text);
    }
    source.onopen = () => { setStatus('open', 'live'); clearMessage('live'); };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus('error', 'closed');
        showMessage('error', 'LIVE', 'The event stream closed; reload the page to try again.', { key: 'live' });
      } else {
        setStatus('error', 'reconnecting');
      }
    };
    source.onmessage = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (_) { return; }
      if (!event || typeof event !== 'object') return;
      // After a reconnect the server sends what it remembers again: skip what was shown.
      const key = [event.queue, event.seq, event.id, event.event, event.at].join(' ');
      if (taken.has(key)) return;
      taken.add(key);
      takenOrder.push(key);
      if (takenOrder.length > TAKEN_CAP) taken.delete(takenOrder.shift());
      take(event);
    };

    pauseButton.addEventListener('click', () => {
      paused = !paused;
      pauseButton.setAttribute('aria-pressed', String(paused));
      setText(pauseButton, paused ? 'Resume' : 'Pause');
      if (!paused && held.length) {
        pending = pending.concat(held);
        held = [];
        flush();
      }
    });
    clearButton.addEventListener('click', () => {
      pending = [];
      held = [];
      emptyRow(events.tbody, 8, 'Cleared; waiting for events…');
      if (paused) setText(pauseButton, 'Resume');
    });
    filter.addEventListener('input', () => {
      for (const row of events.tbody.querySelectorAll('tr[data-search]')) row.hidden = !matches(row);
    });
    const rateTimer = setInterval(() => {
      // By the events' own times, so the remembered ones replayed at the start do not count.
      const since = Date.now() - 10000;
      received = received.filter((ms) => ms >= since);
      setText(counter, fmtRate(received.length / 10) + ' events/s');
    }, 1000);

    return {
      stop() {
        stopped = true;
        source.close();
        clearTimeout(flushTimer);
        clearInterval(rateTimer);
      },
    };
  }

  // ---------------------------------------------------------------- routes, schedules, connections

  // Every page of a listing that pages by `after=` (ROUTES, SCHEDULES): a page's last item
  // names the next page's start, and an empty page is the end. A page may stop early (at the
  // server's reply budget), so a short one is not the end.
  async function allPages(path, cursorOf) {
    const items = [];
    let after = null;
    for (;;) {
      const page = await api(path + (after == null ? '' : (path.includes('?') ? '&' : '?') + 'after=' + q(after)));
      if (!Array.isArray(page) || page.length === 0) return items;
      const next = String(cursorOf(page[page.length - 1]));
      // A listing that does not move on would be asked for forever.
      if (next === after) return items;
      items.push(...page);
      after = next;
    }
  }

  function listView(root, opts) {
    const info = h('p', { class: 'muted' }, opts.note || '');
    const t = table(opts.headers, { id: opts.id, testid: opts.id });
    root.append(h('h1', { tabindex: '-1' }, opts.title), section(null, info, h('div', { class: 'scroll' }, t.node)));
    emptyRow(t.tbody, opts.headers.length, 'Loading…');
    const load = opts.pagedBy ? () => allPages(opts.path, opts.pagedBy) : () => api(opts.path);
    const refresh = poller(load, (data) => {
      const items = opts.items(data);
      if (items.length === 0) { emptyRow(t.tbody, opts.headers.length, opts.empty); return; }
      const empty = t.tbody.querySelector('tr.empty');
      if (empty) empty.remove();
      syncRows(t.tbody, items, opts.key, (item) => JSON.stringify(item), (item) => h('tr', { testid: opts.rowTestid }, opts.row(item).map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', null, c)))));
      if (opts.summary) info.textContent = opts.summary(data);
    }, opts.every || REFRESH_MS);
    return { stop() { refresh.stop(); } };
  }

  function routesView(root) {
    return listView(root, {
      // Every page (ROUTES answers up to 1000 routes a page, fewer when they are long).
      title: 'Routes', id: 'routes', rowTestid: 'route-row', path: '/api/routes?limit=1000', pagedBy: (r) => r.id, every: 5000,
      note: 'Each message published on a matching subject becomes a job on the queue.',
      headers: ['ID', 'Subject pattern', 'Queue', 'Rule', 'Owner'], empty: 'No routes.',
      items: (data) => data, key: (r) => r.id,
      row: (r) => [String(r.id), h('td', { class: 'mono wrap' }, r.pattern), queueLink(r.queue), h('td', { class: 'mono wrap' }, isolatedWords(r.rule)), r.owner == null ? '—' : h('td', { class: 'wrap' }, r.owner)],
    });
  }

  function schedulesView(root) {
    return listView(root, {
      // Every page, by name (SCHEDULES answers up to 1000 a page, fewer when they are long).
      title: 'Schedules', id: 'schedules', rowTestid: 'schedule-row', path: '/api/schedules?limit=1000', pagedBy: (r) => r.name, every: 5000,
      // A cron's hours are in its own zone, the ticks shown in the viewer's: say which that is.
      note: 'Each tick enqueues one job on the queue. Times are in this browser\'s time zone (' + browserZone() + ').',
      headers: ['Name', 'Queue', 'When', 'Catch-up', 'Status', 'Last tick', 'Next ticks', 'Payload'], empty: 'No schedules.',
      items: (data) => data, key: (r) => r.name,
      row: (r) => [
        h('td', { class: 'mono wrap' }, r.name), queueLink(r.queue),
        h('td', { class: 'mono' }, r.cron != null ? 'cron "' + r.cron + '"' + (r.tz ? ' ' + r.tz : '') : 'every ' + fmtDuration(r.every_ms)),
        r.catchup || '—',
        r.paused ? h('span', { class: 'badge badge-paused' }, 'paused') : h('span', { class: 'badge badge-ok' }, 'active'),
        timeNode(r.last_tick),
        (r.next || []).length ? (r.next || []).map((ms, i) => [i ? ', ' : '', timeNode(ms)]) : '—',
        fmtBytes(r.payload_bytes),
      ],
    });
  }

  // CONNECT's lang and version are whatever the client sent, up to a control line: one line,
  // cut short with an ellipsis (all of it on hovering), so no client widens the table.
  function clientCell(text) {
    return text ? h('td', { class: 'clip client-cell', title: text }, isolatedWords(text)) : '—';
  }

  // Text made of words from several hands (a route's rule: its subject, queue and options; a
  // client's lang and version), each word in a <bdi> of its own: a right-to-left override in
  // one (a subject may carry one) then reorders that word only, not the queue named after it.
  function isolatedWords(text) {
    return String(text).split(' ').map((word, i) => [i ? ' ' : '', h('bdi', null, word)]);
  }

  function connectionsView(root) {
    return listView(root, {
      title: 'Connections', id: 'connections', rowTestid: 'connection-row', path: '/api/connections',
      headers: ['CID', 'Address', 'Name', 'Client', 'Up', ['Subs', 'num'], ['Held jobs', 'num'], 'Waiting', ['Pending', 'num'], ['Msgs in/out', 'num'], ['Bytes in/out', 'num']],
      empty: 'No client connections.',
      items: (data) => data.connections || [], key: (c) => c.cid,
      // The list is a page of /connz: `total` counts every connection, `num_connections` the listed.
      summary: (data) => {
        const listed = (data.connections || []).length;
        const total = data.total != null ? data.total : listed;
        return fmtInt(total) + ' connections' + (total > listed ? ' (the first ' + fmtInt(listed) + ' listed)' : '');
      },
      row: (c) => [
        String(c.cid), h('td', { class: 'mono' }, c.ip + (c.port ? ':' + c.port : '')), h('td', { class: 'wrap name-cell', title: c.name || '' }, h('span', { class: 'clamp' }, c.name || '—')),
        clientCell([c.lang || '', c.version ? ' ' + c.version : ''].join('').trim()), fmtDuration(c.uptime_ms),
        h('td', { class: 'num' }, fmtInt(c.subscriptions)), h('td', { class: 'num' }, fmtInt(c.held_jobs)),
        c.waiting_for_job ? 'for a job' : '—', h('td', { class: 'num' }, fmtBytes(c.pending_bytes)),
        h('td', { class: 'num' }, fmtInt(c.in_msgs) + ' / ' + fmtInt(c.out_msgs)),
        h('td', { class: 'num' }, fmtBytes(c.in_bytes) + ' / ' + fmtBytes(c.out_bytes)),
      ],
    });
  }

  // ---------------------------------------------------------------- routing

  const viewRoot = document.getElementById('view');
  const QUEUE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
  let current = null;

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    try {
      return raw.split('/').filter((part) => part !== '').map(decodeURIComponent);
    } catch (_) {
      return null;
    }
  }

  function route() {
    if (current) { current.stop(); current = null; }
    viewRoot.replaceChildren();
    clearErrors();
    dialog.open && dialog.close();
    const parts = parseHash();
    let area = 'overview';
    document.title = 'Docket';
    if (parts === null) {
      viewRoot.append(h('h1', null, 'Not found'), h('p', null, 'This address is not valid.'));
      area = null;
    } else if (parts.length === 0) {
      current = overviewView(viewRoot);
    } else if ((parts[0] === 'queue' || parts[0] === 'live') && parts[1] && !QUEUE_NAME.test(parts[1])) {
      // Asked for, it would be refused every 2 s, and a live view would say to reload the page.
      viewRoot.append(h('h1', null, 'No such queue'),
        h('p', null, 'Queue names are 1 to 128 letters, digits, _ or -. ', h('a', { href: '#/' }, 'Back to the overview')));
      area = null;
    } else if (parts[0] === 'queue' && parts[1]) {
      current = queueView(viewRoot, parts[1], parts[2]);
      area = null;
    } else if (parts[0] === 'job' && parts[1]) {
      current = jobView(viewRoot, parts[1], parts[2] === 'children' ? parts[3] : '');
      area = null;
    } else if (parts[0] === 'live') {
      current = liveView(viewRoot, parts[1] || '');
      area = 'live';
      document.title = 'Live · Docket';
    } else if (parts[0] === 'routes') {
      current = routesView(viewRoot);
      area = 'routes';
    } else if (parts[0] === 'schedules') {
      current = schedulesView(viewRoot);
      area = 'schedules';
    } else if (parts[0] === 'connections') {
      current = connectionsView(viewRoot);
      area = 'connections';
    } else {
      viewRoot.append(h('h1', null, 'Not found'), h('p', null, 'Nothing lives here. ', h('a', { href: '#/' }, 'Back to the overview')));
      area = null;
    }
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.nav === area) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const heading = viewRoot.querySelector('h1');
    if (heading && route.moved) heading.focus({ preventScroll: true });
    route.moved = true;
  }

  window.addEventListener('hashchange', route);
  route();
  // The header's server line on pages other than the overview (which keeps it current).
  // For the header only: one queue's document, not the first 1,024 of them.
  if (location.hash.replace(/^#\/?/, '') !== '') api('/api/overview?limit=1').then((overview) => { if (!shared.overview) noteOverview(overview); }).catch(() => {});
})();
