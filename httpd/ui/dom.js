// dom.js - building the page from data without ever parsing it as HTML:
// every string becomes a text node or a property, never innerHTML.

// h(tag, props, ...children): props are element properties ("class" and
// "for" included), "on<event>" listeners, and "data-*"/"aria-*"/"role"
// attributes; children are nodes, strings, numbers, arrays, or null.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'for') el.htmlFor = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') el.setAttribute(k, String(v));
    else el[k] = v;
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace el's content
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// a hash link: each path segment percent-encoded, so any name is safe
export function link(parts, ...children) {
  const href = '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
  return h('a', { href }, ...children);
}

const STATES = {
  passing: { sym: '\u2714', label: 'passing' },
  warning: { sym: '\u26a0', label: 'warning' },
  critical: { sym: '\u2716', label: 'critical' },
  maintenance: { sym: '\u2716', label: 'maintenance' },
  none: { sym: '\u2013', label: 'no checks' },
};

// a health badge: colour plus a symbol and the state in words
export function badge(state, extra) {
  const s = STATES[state] || { sym: '?', label: String(state) };
  return h('span', { class: 'badge st-' + (STATES[state] ? state : 'unknown'), 'data-state': state },
    h('span', { 'aria-hidden': 'true' }, s.sym + ' '), s.label, extra ? ' ' + extra : null);
}

// worst - the worst state of a list of statuses ("none" for none)
export function worst(statuses) {
  let w = 'none';
  const rank = { none: 0, passing: 1, warning: 2, critical: 3 };
  for (const s of statuses) {
    const st = rank[s] !== undefined ? s : 'critical';
    if (rank[st] > rank[w]) w = st;
  }
  return w;
}

export function tags(list) {
  if (!list || list.length === 0) return h('span', { class: 'muted' }, '\u2013');
  return h('span', { class: 'tags' }, list.map((t) => h('span', { class: 'tag' }, t)));
}
