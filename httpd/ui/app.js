// app.js - Cairn's web UI: hash routes, one view at a time, each view
// fed by one blocking query (api.js watch) that is stopped when the view
// changes.  Everything from the agent is rendered as text (dom.js).
import { api, ApiError, onLive, pathOf, settings, watch } from './api.js';
import { badge, fill, h, link, tags, worst } from './dom.js';

const main = document.getElementById('main');
const bannerEl = document.getElementById('banner');
const dcSelect = document.getElementById('dc');

// ---------------------------------------------------------------- errors
// two kinds: "live" (a view's updates failing; cleared when they work
// again) and "action" (a write the person asked for; kept until the next
// action or view)
const banners = { live: '', action: '' };
function setError(slot, err) {
  banners[slot] = err ? (err instanceof Error ? err.message : String(err)) : '';
  const msgs = [banners.action, banners.live].filter(Boolean);
  bannerEl.hidden = msgs.length === 0;
  fill(bannerEl, msgs.map((m) => h('div', { class: 'msg' }, m)));
  bannerEl.dataset.kind = err instanceof ApiError ? err.kind : '';
}

onLive((state) => {
  const el = document.getElementById('live');
  if (!el) return;
  el.textContent = state === 'live' ? '\u25cf live updates'
    : state === 'paused' ? '\u25cb updates paused while the tab is hidden'
      : '\u25cb reconnecting\u2026';
  el.dataset.state = state;
});

// ---------------------------------------------------------------- helpers
function section(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, ...body);
}

function table(headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted empty' }, empty);
  return h('table', null,
    h('thead', null, h('tr', null, headers.map((t) => h('th', null, t)))),
    h('tbody', null, rows));
}

function checkStatus(c) {
  return c.Status || 'critical';
}

function serviceHealth(s) {
  if (s.ChecksCritical > 0) return 'critical';
  if (s.ChecksWarning > 0) return 'warning';
  if (s.ChecksPassing > 0) return 'passing';
  return 'none';
}

function checksList(checks) {
  if (!checks || checks.length === 0) return h('p', { class: 'muted' }, 'No checks.');
  return h('ul', { class: 'checks' }, checks.map((c) => h('li', { class: 'check', 'data-check': c.CheckID },
    badge(checkStatus(c)), ' ',
    h('span', { class: 'check-name' }, c.Name || c.CheckID),
    c.Name && c.CheckID && c.Name !== c.CheckID ? h('span', { class: 'muted' }, ' (' + c.CheckID + ')') : null,
    c.ServiceName ? h('span', { class: 'muted' }, ' \u2014 service ' + c.ServiceName) : null,
    c.Output ? h('pre', { class: 'output' }, c.Output) : h('div', { class: 'muted output-none' }, 'no output'))));
}

function filterBox(placeholder, onInput) {
  return h('input', { type: 'search', class: 'filter', placeholder, 'aria-label': placeholder,
    oninput: (e) => onInput(e.target.value.trim().toLowerCase()) });
}

function loading(what) {
  return h('p', { class: 'muted loading' }, 'Loading ' + what + '\u2026');
}

// ---------------------------------------------------------------- views
function servicesView(ctx) {
  let rows = [], q = '';
  const body = h('div', { class: 'list' }, loading('services'));
  fill(main, h('div', { class: 'head' }, h('h1', null, 'Services'),
    filterBox('Filter by name or tag', (v) => { q = v; draw(); })), body);
  function draw() {
    const shown = rows.filter((s) => !q || s.Name.toLowerCase().includes(q) ||
      (s.Tags || []).some((t) => t.toLowerCase().includes(q)));
    fill(body, h('p', { class: 'muted count' }, shown.length + ' of ' + rows.length + ' services'),
      table(['Service', 'Health', 'Instances', 'Tags'], shown.map((s) => h('tr', { 'data-service': s.Name },
        h('td', null, link(['service', s.Name], s.Name)),
        h('td', null, badge(serviceHealth(s), '(' + s.ChecksPassing + ' passing, ' + s.ChecksWarning +
          ' warning, ' + s.ChecksCritical + ' critical)')),
        h('td', { class: 'num' }, String(s.InstanceCount)),
        h('td', null, tags(s.Tags)))), q ? 'No service matches the filter.' : 'No services registered.'));
  }
  ctx.watch('/v1/internal/ui/services', {}, (data) => { rows = data || []; draw(); });
}

function serviceView(ctx, name) {
  const body = h('div', null, loading('instances'));
  fill(main, h('div', { class: 'head' }, h('h1', null, h('span', { class: 'muted' }, 'Service '), name)),
    h('p', null, link(['services'], '\u2190 all services')), body);
  ctx.watch('/v1/health/service/' + encodeURIComponent(name), {}, (data) => {
    const list = data || [];
    if (list.length === 0) {
      fill(body, h('p', { class: 'muted empty' }, 'No instance of this service is registered.'));
      return;
    }
    fill(body, h('p', { class: 'muted count' }, list.length + (list.length === 1 ? ' instance' : ' instances')),
      list.map((e) => {
        const s = e.Service || {}, n = e.Node || {};
        const addr = (s.Address || n.Address || '') + (s.Port ? ':' + s.Port : '');
        return section(null, h('div', { class: 'inst-head', 'data-instance': s.ID },
          badge(worst((e.Checks || []).map(checkStatus))), ' ',
          h('strong', null, s.ID), ' on ', link(['node', n.Node || ''], n.Node || '?')),
        h('dl', { class: 'facts' },
          h('dt', null, 'Node'), h('dd', null, n.Node || ''),
          h('dt', null, 'Address'), h('dd', null, addr || '\u2013'),
          h('dt', null, 'Port'), h('dd', null, s.Port ? String(s.Port) : '\u2013'),
          h('dt', null, 'Tags'), h('dd', null, tags(s.Tags))),
        h('h3', null, 'Checks'), checksList(e.Checks));
      }));
  });
}

function nodesView(ctx) {
  let rows = [], q = '';
  const body = h('div', { class: 'list' }, loading('nodes'));
  fill(main, h('div', { class: 'head' }, h('h1', null, 'Nodes'),
    filterBox('Filter by name or address', (v) => { q = v; draw(); })), body);
  function draw() {
    const shown = rows.filter((n) => !q || n.Node.toLowerCase().includes(q) || (n.Address || '').includes(q));
    fill(body, h('p', { class: 'muted count' }, shown.length + ' of ' + rows.length + ' nodes'),
      table(['Node', 'Address', 'Health', 'Services'], shown.map((n) => h('tr', { 'data-node': n.Node },
        h('td', null, link(['node', n.Node], n.Node)),
        h('td', null, n.Address || ''),
        h('td', null, badge(worst((n.Checks || []).map(checkStatus)))),
        h('td', null, tags([...new Set((n.Services || []).map((s) => s.Service))].sort())))),
      q ? 'No node matches the filter.' : 'No nodes.'));
  }
  ctx.watch('/v1/internal/ui/nodes', {}, (data) => { rows = data || []; draw(); });
}

function nodeView(ctx, name) {
  const body = h('div', null, loading('the node'));
  fill(main, h('div', { class: 'head' }, h('h1', null, h('span', { class: 'muted' }, 'Node '), name)),
    h('p', null, link(['nodes'], '\u2190 all nodes')), body);
  ctx.watch('/v1/internal/ui/node/' + encodeURIComponent(name), {}, (n) => {
    if (!n) {
      fill(body, h('p', { class: 'muted empty' }, 'There is no node of this name (any more).'));
      return;
    }
    const svcs = n.Services || [];
    fill(body,
      section(null, h('dl', { class: 'facts' },
        h('dt', null, 'Health'), h('dd', null, badge(worst((n.Checks || []).map(checkStatus)))),
        h('dt', null, 'Address'), h('dd', null, n.Address || ''),
        h('dt', null, 'Datacenter'), h('dd', null, n.Datacenter || ''),
        h('dt', null, 'ID'), h('dd', { class: 'mono' }, n.ID || ''))),
      section('Checks', checksList(n.Checks)),
      section('Services', table(['Service', 'ID', 'Address', 'Tags'], svcs.map((s) => h('tr', null,
        h('td', null, link(['service', s.Service], s.Service)),
        h('td', { class: 'mono' }, s.ID),
        h('td', null, (s.Address || n.Address || '') + (s.Port ? ':' + s.Port : '')),
        h('td', null, tags(s.Tags)))), 'No services on this node.')));
  });
}

// ---------------------------------------------------------------- KV
function b64ToBytes(b64) {
  const bin = atob(b64 || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToB64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

// asText - the bytes as UTF-8 text, or null when they are binary
function asText(bytes) {
  try {
    const t = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(t) ? null : t;
  } catch (e) {
    return null;
  }
}

function crumbs(prefix) {
  const parts = prefix.split('/').filter((p, i, a) => p !== '' || i < a.length - 1);
  const out = [link(['kv', ''], 'root')];
  let acc = '';
  for (const p of parts) {
    acc += p + '/';
    out.push(' / ', h('a', { href: '#/kv/' + pathOf(acc) }, p));
  }
  return h('nav', { class: 'crumbs', 'aria-label': 'Folder' }, out);
}

async function kvWrite(key, value, params) {
  const r = await api('/v1/kv/' + pathOf(key), { method: 'PUT', body: value, params });
  if (r.data === false)
    throw new Error('Not saved: the key changed since it was loaded (reload it and try again).');
  return r;
}

async function action(fn) {
  setError('action', null);
  try {
    await fn();
    return true;
  } catch (e) {
    setError('action', e);
    return false;
  }
}

function kvFolderView(ctx, prefix) {
  const body = h('div', { class: 'list' }, loading('keys'));
  const keyIn = h('input', { type: 'text', id: 'kv-new-key', placeholder: 'key, or folder/ to make a folder',
    'aria-label': 'New key name', required: true });
  const valIn = h('textarea', { id: 'kv-new-value', rows: 4, placeholder: 'value (text)', 'aria-label': 'New value' });
  const form = h('form', { class: 'card kv-create', onsubmit: async (e) => {
    e.preventDefault();
    const k = keyIn.value;
    if (!k) return;
    const full = prefix + k;
    const ok = await action(() => kvWrite(full, k.endsWith('/') ? '' : valIn.value));
    if (ok) location.hash = '#/kv/' + pathOf(full);
  } }, h('h2', null, 'Create'),
  h('label', { for: 'kv-new-key' }, 'Key in ' + (prefix || 'the root') + ':'), keyIn,
  h('label', { for: 'kv-new-value' }, 'Value:'), valIn,
  h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'kv-create' }, 'Save')));
  fill(main, h('div', { class: 'head' }, h('h1', null, 'Key/Value')), crumbs(prefix), body, form);
  ctx.watch('/v1/kv/' + pathOf(prefix), { keys: true, separator: '/' }, (data) => {
    const keys = (data || []).filter((k) => k !== prefix);
    fill(body, table(['Key', ''], keys.map((k) => {
      const rel = k.slice(prefix.length);
      const folder = k.endsWith('/');
      return h('tr', { 'data-key': k },
        h('td', null, h('a', { href: '#/kv/' + pathOf(k), class: folder ? 'folder' : 'key' },
          h('span', { 'aria-hidden': 'true' }, folder ? '\ud83d\udcc1 ' : '\ud83d\udcc4 '), rel)),
        h('td', { class: 'muted' }, folder ? 'folder' : 'key'));
    }), prefix ? 'This folder is empty.' : 'There are no keys yet.'));
  });
}

function kvKeyView(ctx, key) {
  const slash = key.lastIndexOf('/');
  const parent = slash >= 0 ? key.slice(0, slash + 1) : '';
  const body = h('div', null, loading('the key'));
  fill(main, h('div', { class: 'head' }, h('h1', null, 'Key/Value')), crumbs(parent),
    h('h2', { class: 'keyname' }, key), body);
  let editing = false;
  ctx.watch('/v1/kv/' + pathOf(key), {}, (rows) => {
    if (editing) return; // keep what the person is typing
    if (!rows || rows.length === 0) {
      fill(body, h('p', { class: 'muted empty', id: 'kv-missing' }, 'This key does not exist (any more).'),
        h('p', null, h('a', { href: '#/kv/' + pathOf(parent) }, '\u2190 back to the folder')));
      return;
    }
    const row = rows[0];
    const bytes = b64ToBytes(row.Value);
    const text = asText(bytes);
    const binary = text === null;
    const shown = h('pre', { class: 'value', id: 'kv-value' }, binary ? bytesToB64(bytes) : text);
    const mode = h('select', { id: 'kv-mode', 'aria-label': 'Value encoding' },
      h('option', { value: 'text', selected: !binary }, 'Text'),
      h('option', { value: 'base64', selected: binary }, 'Base64'));
    const editor = h('textarea', { id: 'kv-edit', rows: 8, 'aria-label': 'Value' });
    editor.value = binary ? bytesToB64(bytes) : text;
    editor.addEventListener('input', () => { editing = true; });
    mode.addEventListener('change', () => {
      editing = true;
      try {
        editor.value = mode.value === 'base64'
          ? bytesToB64(new TextEncoder().encode(editor.value))
          : (asText(b64ToBytes(editor.value)) ?? editor.value);
      } catch (e) { /* not base64: leave it */ }
    });
    const confirmBox = h('span', { class: 'confirm', hidden: true }, 'Delete this key? ',
      h('button', { type: 'button', class: 'danger', id: 'kv-delete-yes', onclick: async () => {
        const ok = await action(() => api('/v1/kv/' + pathOf(key), { method: 'DELETE' }));
        if (ok) location.hash = '#/kv/' + pathOf(parent);
      } }, 'Yes, delete'), ' ',
      h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Cancel'));
    fill(body, section(null,
      h('p', { class: 'muted meta' }, (binary ? 'Binary value, shown as base64. ' : '') +
        bytes.length + ' bytes \u00b7 flags ' + row.Flags + ' \u00b7 modify index ' + row.ModifyIndex +
        (row.Session ? ' \u00b7 locked by session ' + row.Session : '')),
      shown),
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      let value = editor.value;
      if (mode.value === 'base64') {
        try { value = b64ToBytes(value.replace(/\s+/g, '')); } catch (err) {
          setError('action', 'The value is not valid base64.');
          return;
        }
      }
      const ok = await action(() => kvWrite(key, value, { cas: row.ModifyIndex }));
      if (ok) { editing = false; ctx.refresh(); }
    } }, h('h2', null, 'Edit'),
    h('label', { for: 'kv-mode' }, 'Edit as '), mode, editor,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', id: 'kv-save' }, 'Save'), ' ',
      h('button', { type: 'button', class: 'danger', id: 'kv-delete',
        onclick: () => { confirmBox.hidden = false; } }, 'Delete'), ' ', confirmBox)));
  });
}

// ---------------------------------------------------------------- settings
function settingsView() {
  const tok = h('input', { type: 'password', id: 'token', autocomplete: 'off', value: settings.token,
    'aria-label': 'ACL token', placeholder: 'ACL token (secret ID)' });
  const saved = h('span', { class: 'muted', role: 'status' });
  fill(main, h('div', { class: 'head' }, h('h1', null, 'Settings')),
    h('form', { class: 'card', onsubmit: (e) => {
      e.preventDefault();
      settings.token = tok.value.trim();
      saved.textContent = settings.token ? 'Saved: sent as X-Consul-Token from now on.' : 'Cleared.';
    } }, h('h2', null, 'ACL token'),
    h('p', { class: 'muted' }, 'Sent with every request as X-Consul-Token; kept in this browser ' +
      '(localStorage) only.'),
    h('label', { for: 'token' }, 'Token'), tok,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'token-save' }, 'Save'), ' ',
      h('button', { type: 'button', onclick: () => { tok.value = ''; settings.token = ''; saved.textContent = 'Cleared.'; } },
        'Clear'), ' ', saved)));
}

// ---------------------------------------------------------------- router
function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/');
  const dec = (s) => { try { return decodeURIComponent(s); } catch (e) { return s; } };
  const page = parts[0] || 'services';
  const rest = parts.slice(1).map(dec).join('/');
  switch (page) {
    case 'services': return { nav: 'services', title: 'Services', run: servicesView };
    case 'service': return { nav: 'services', title: rest, run: (c) => serviceView(c, rest) };
    case 'nodes': return { nav: 'nodes', title: 'Nodes', run: nodesView };
    case 'node': return { nav: 'nodes', title: rest, run: (c) => nodeView(c, rest) };
    case 'kv':
      return { nav: 'kv', title: 'Key/Value', run: rest === '' || rest.endsWith('/')
        ? (c) => kvFolderView(c, rest) : (c) => kvKeyView(c, rest) };
    case 'settings': return { nav: 'settings', title: 'Settings', run: settingsView };
    default: return { nav: '', title: 'Not found', run: () => fill(main, h('h1', null, 'Not found'),
      h('p', null, 'There is no page at this address. ', link(['services'], 'Go to the services.'))) };
  }
}

let current = null;

function show() {
  if (current) current.stop();
  setError('live', null);
  setError('action', null);
  const r = route();
  for (const a of document.querySelectorAll('nav a[data-nav]'))
    a.classList.toggle('active', a.dataset.nav === r.nav);
  document.title = (r.title ? r.title + ' \u00b7 ' : '') + 'Cairn';
  const watches = [];
  let stopped = false;
  const ctx = {
    watch(path, params, render) {
      const w = watch(path, params, (data, res) => {
        if (stopped) return;
        setError('live', null);
        try { render(data, res); } catch (e) { setError('live', 'Cannot show this page: ' + e.message); }
      }, (err) => {
        if (stopped) return;
        setError('live', err);
        const ld = main.querySelector('.loading');
        if (ld) ld.textContent = 'Could not load: ' + err.message;
      });
      watches.push(w);
    },
    refresh() { if (!stopped) show(); },
  };
  current = { stop() { stopped = true; for (const w of watches) w.stop(); } };
  r.run(ctx);
}

// ---------------------------------------------------------------- datacenters
async function loadDatacenters() {
  let dcs = [], own = '';
  try {
    const self = await api('/v1/agent/self', { dc: false });
    own = (self.data && self.data.Config && self.data.Config.Datacenter) || '';
  } catch (e) { /* the list below still helps */ }
  try {
    dcs = (await api('/v1/catalog/datacenters', { dc: false })).data || [];
  } catch (e) {
    setError('live', e);
  }
  if (own && !dcs.includes(own)) dcs.unshift(own);
  if (settings.dc && !dcs.includes(settings.dc)) settings.dc = '';
  fill(dcSelect, dcs.map((d) => h('option', { value: d, selected: d === (settings.dc || own) },
    d + (d === own ? ' (this agent)' : ''))));
  dcSelect.dataset.loaded = 'true';
}

dcSelect.addEventListener('change', () => {
  settings.dc = dcSelect.value;
  show();
});
window.addEventListener('hashchange', show);
if (!location.hash) history.replaceState(null, '', '#/services');
loadDatacenters();
show();
