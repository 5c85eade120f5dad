/**
 * The dashboard's script, as the Worker serves it (/dashboard/app.js): plain
 * browser JavaScript, no framework, no build step. It reads the live status
 * from GET /v1/status/events (server-sent events, read with fetch so that the
 * token travels in the Authorization header, never in a URL), draws every
 * stream and the selected stream's replicas on the map, and sends the admin
 * controls to the ordinary API routes. Everything it shows is set with
 * textContent (stream names and regions are data, never markup).
 */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'edgepaxos-dashboard-token';
  var SVG = 'http://www.w3.org/2000/svg';
  var state = { token: sessionStorage.getItem(TOKEN_KEY) || '', selected: null, last: null, generation: 0, controller: null, targets: {} };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'class') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c !== null && c !== undefined) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function headers(withBody) {
    var h = {};
    if (state.token) h.authorization = 'Bearer ' + state.token;
    if (withBody) h['content-type'] = 'application/json';
    return h;
  }

  function setConnection(kind, text) {
    var c = $('connection');
    c.setAttribute('data-state', kind);
    c.textContent = text;
  }

  function say(kind, text) {
    var m = $('message');
    m.setAttribute('data-kind', kind);
    m.textContent = text;
  }

  // ------------------------------------------------------------ the live feed

  function connect() {
    var generation = ++state.generation;
    if (state.controller) state.controller.abort();
    var controller = new AbortController();
    state.controller = controller;
    setConnection('connecting', 'connecting…');
    follow(generation, controller).catch(function () {
      if (controller.signal.aborted) return;
      setConnection('error', 'disconnected');
      later(generation, 1000);
    });
  }

  function later(generation, ms) {
    setTimeout(function () { if (generation === state.generation) connect(); }, ms);
  }

  async function follow(generation, controller) {
    var res = await fetch('/v1/status/events', { headers: headers(false), signal: controller.signal, cache: 'no-store' });
    if (!res.ok) {
      var body = await res.json().catch(function () { return null; });
      var error = body && body.error ? body.error : { code: 'http_' + res.status, message: res.statusText };
      setConnection('error', error.code);
      say('error', error.code + ': ' + error.message + (res.status === 401 || res.status === 403 ? ' (enter a token above)' : ''));
      later(generation, 5000);
      return;
    }
    setConnection('live', 'live');
    var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = '';
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += chunk.value;
      var at;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        onEvent(buffer.slice(0, at));
        buffer = buffer.slice(at + 2);
      }
    }
    // The Worker ends each feed after a while (it bounds what one request may call): reconnect at once.
    if (!controller.signal.aborted) later(generation, 50);
  }

  function onEvent(text) {
    var event = 'message';
    var data = '';
    text.split('\n').forEach(function (line) {
      if (line.indexOf('event:') === 0) event = line.slice(6).trim();
      else if (line.indexOf('data:') === 0) data += line.slice(5).replace(/^ /, '');
    });
    if (event !== 'status' || data === '') return;
    state.last = JSON.parse(data);
    render();
  }

  // ------------------------------------------------------------ drawing

  function render() {
    var all = state.last;
    var names = all.streams.map(function (s) { return s.name; });
    if (state.selected === null || names.indexOf(state.selected) < 0) state.selected = names.indexOf('default') >= 0 ? 'default' : names[0] || null;
    var container = $('streams');
    var cards = all.streams.map(card);
    if (all.catalog_error) cards.push(el('p', { class: 'facts blocked', text: 'streams created at run time are missing: ' + all.catalog_error }));
    container.replaceChildren.apply(container, cards);
    drawMap(all.streams.filter(function (s) { return s.name === state.selected; })[0] || null);
  }

  function card(s) {
    var st = s.status;
    var article = el('article', { class: 'stream' + (s.name === state.selected ? ' selected' : ''), 'data-stream': s.name, 'data-leader': st && st.leader_id !== null ? String(st.leader_id) : '' }, [
      el('h2', {}, [s.name + ' ', el('small', { class: 'facts', text: s.kind + (s.state === 'active' ? '' : ', ' + s.state) })]),
    ]);
    if (!st) {
      article.appendChild(el('p', { class: 'facts blocked', text: s.error ? s.error.code + ': ' + s.error.message : s.state }));
      return article;
    }
    var leader = st.nodes.filter(function (n) { return n.node_id === st.leader_id; })[0];
    var facts = el('div', { class: 'facts' }, [
      'leader ', el('b', { class: 'leader-id', text: st.leader_id === null ? 'none' : String(st.leader_id) }), leader && leader.region ? ' (' + leader.region + ')' : '',
      ' · term ', el('b', { text: String(st.term) }),
      ' · decided ', el('b', { text: String(st.commit_index) }),
      ' · run mode ', el('b', { class: 'run-mode', text: st.run_mode }),
      ' · work mode ', el('b', { class: st.work_mode === 'normal' ? '' : 'minority', text: st.work_mode }),
      st.writes_blocked ? el('span', { class: 'blocked', text: ' · writes blocked: ' + st.writes_blocked }) : null,
    ]);
    article.appendChild(facts);
    var head = el('tr', {}, ['replica', 'region', 'role', 'term', 'decided', 'applied', 'log', 'lag', 'quiet', 'healthy'].map(function (h) { return el('th', { text: h }); }));
    var rows = st.nodes.map(function (n) {
      var isLeader = n.node_id === st.leader_id;
      return el('tr', { 'data-replica': String(n.node_id), 'data-role': n.role, 'data-quiet': String(n.quiescent === true) }, [
        el('td', { class: 'replica-id', text: (isLeader ? '★ ' : '') + n.node_id }),
        el('td', { text: n.region || '-' }),
        el('td', { class: 'role', text: n.role }),
        el('td', { text: show(n.term) }),
        el('td', { text: show(n.commit_index) }),
        el('td', { text: show(n.applied_index) }),
        el('td', { text: n.first_index === null ? '-' : n.first_index + '..' + n.last_index }),
        el('td', { text: show(n.lag) }),
        el('td', { text: n.quiescent === null ? '-' : n.quiescent ? 'quiet' : '' }),
        el('td', { text: n.healthy ? 'yes' : 'no' }),
      ]);
    });
    article.appendChild(el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)]));
    article.appendChild(controls(s.name, st));
    return article;
  }

  function controls(name, st) {
    var others = st.nodes.filter(function (n) { return n.node_id !== st.leader_id && n.role !== 'logger' && n.role !== 'passive'; });
    var select = el('select', { 'data-target-of': name, 'aria-label': 'switchover target' }, others.map(function (n) {
      return el('option', { value: String(n.node_id), text: 'replica ' + n.node_id + (n.region ? ' (' + n.region + ')' : '') });
    }));
    if (state.targets[name] && others.some(function (n) { return String(n.node_id) === state.targets[name]; })) select.value = state.targets[name];
    var paused = st.run_mode !== 'automatic';
    return el('div', { class: 'controls' }, [
      el('span', { class: 'label', text: 'admin:' }),
      select,
      el('button', { type: 'button', 'data-action': 'switchover', 'data-stream': name, text: 'switch over' }),
      el('button', { type: 'button', 'data-action': 'step-down', 'data-stream': name, text: 'step down' }),
      el('button', { type: 'button', 'data-action': paused ? 'resume' : 'pause', 'data-stream': name, text: paused ? 'resume (automatic)' : 'pause (manual)' }),
    ]);
  }

  function show(v) { return v === null || v === undefined ? '-' : String(v); }

  function drawMap(s) {
    $('map-stream').textContent = s ? s.name : 'no stream';
    var groups = document.querySelectorAll('#map .region');
    var byRegion = {};
    var nodes = s && s.status ? s.status.nodes : [];
    nodes.forEach(function (n) { (byRegion[n.region] = byRegion[n.region] || []).push(n); });
    groups.forEach(function (g) {
      var here = byRegion[g.getAttribute('data-region')] || [];
      g.classList.toggle('used', here.length > 0);
      var markers = g.querySelector('.markers');
      markers.replaceChildren();
      here.forEach(function (n, i) {
        var isLeader = s.status.leader_id === n.node_id;
        var m = svg('g', { class: 'marker', 'data-replica': String(n.node_id), 'data-role': n.role, 'data-quiet': String(n.quiescent === true), transform: 'translate(' + (i - (here.length - 1) / 2) * 30 + ' 0)' });
        m.appendChild(svg('title', {}, 'replica ' + n.node_id + ': ' + n.role + ', term ' + show(n.term) + ', decided ' + show(n.commit_index) + ', lag ' + show(n.lag) + (n.quiescent ? ', quiet' : '')));
        m.appendChild(svg('circle', { r: isLeader ? 14 : 11 }));
        m.appendChild(svg('text', { y: 5 }, String(n.node_id)));
        if (isLeader) m.appendChild(svg('text', { class: 'crown', y: -18 }, '★'));
        markers.appendChild(m);
      });
    });
  }

  // ------------------------------------------------------------ controls

  var ACTIONS = {
    switchover: function (name) { return { method: 'POST', path: '/switchover', body: { target: Number(document.querySelector('select[data-target-of="' + CSS.escape(name) + '"]').value) } }; },
    'step-down': function () { return { method: 'POST', path: '/step-down', body: {} }; },
    pause: function () { return { method: 'PUT', path: '/run-mode', body: { mode: 'manual' } }; },
    resume: function () { return { method: 'PUT', path: '/run-mode', body: { mode: 'automatic' } }; },
  };

  async function act(action, name) {
    var req = ACTIONS[action](name);
    if (action === 'switchover' && !req.body.target) { say('error', 'no other replica to switch over to'); return; }
    say('info', action + ' on ' + name + '…');
    try {
      var res = await fetch('/v1/streams/' + encodeURIComponent(name) + req.path, { method: req.method, headers: headers(true), body: JSON.stringify(req.body) });
      var body = await res.json().catch(function () { return null; });
      if (!res.ok) {
        var error = body && body.error ? body.error : { code: 'http_' + res.status, message: res.statusText };
        say('error', action + ' on ' + name + ': ' + error.code + ': ' + error.message);
        return;
      }
      if (body && body.leader_id !== undefined) say('ok', action + ' on ' + name + ': replica ' + body.leader_id + ' leads' + (body.took_ms !== undefined ? ' (' + body.took_ms + ' ms)' : ''));
      else if (body && body.run_mode) say('ok', 'run mode of ' + name + ': ' + body.run_mode + (body.not_reached.length ? ' (not reached: ' + body.not_reached.join(', ') + ')' : ''));
      else say('ok', action + ' on ' + name + ': done');
    } catch (e) {
      say('error', action + ' on ' + name + ': ' + e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('token').value = state.token;
    $('auth').addEventListener('submit', function (e) {
      e.preventDefault();
      state.token = $('token').value.trim();
      if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
      else sessionStorage.removeItem(TOKEN_KEY);
      say('info', state.token ? 'using the token' : 'no token');
      connect();
    });
    $('streams').addEventListener('change', function (e) {
      var of = e.target.getAttribute && e.target.getAttribute('data-target-of');
      if (of) state.targets[of] = e.target.value;
    });
    $('streams').addEventListener('click', function (e) {
      var button = e.target.closest('button[data-action]');
      if (button) { act(button.getAttribute('data-action'), button.getAttribute('data-stream')); return; }
      if (e.target.closest('select')) return;
      var article = e.target.closest('article[data-stream]');
      if (article && state.last) { state.selected = article.getAttribute('data-stream'); render(); }
    });
    connect();
  });
})();
`;
