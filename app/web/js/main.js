// Start-up, routing by hash, the app shell, locking (locked means empty), idle timer, live
// updates and browser notifications.

import {h, fill, clear} from './dom.js';
import {get, post, launch, csrf, setCsrf} from './api.js';
import {startEvents, stopEvents} from './events.js';
import {app, role, discreet, notifyWanted, applyTitle} from './state.js';
import {renderLaunchNeeded, renderCreateProfile, renderRegister, renderUnlock} from './views/auth.js';
import {loadContacts, renderContactList} from './views/contacts.js';
import {threadView} from './views/thread.js';
import {safetyView} from './views/safety.js';
import {agreementView} from './views/agreement.js';
import {careView} from './views/care.js';
import {digestView, dueView, awayView} from './views/therapist.js';
import {settingsView} from './views/settings.js';
import {adminView} from './views/admin.js';

const root = document.getElementById('app');
const LAUNCH_SENTENCE = 'Open Alliance from the link the app printed when it started.';

let screen = 'none';   // 'none' | 'auth' | 'shell'
let view = null;       // the current view: {refresh(name, data), destroy()}
let shell = null;      // {main, contacts, banners, nav, layout}
let idleTimer = null;
let lastPing = 0;
let refreshTimer = null;
const pending = new Map();

// ---------------------------------------------------------------- start-up

async function boot() {
  applyTitle();
  const m = /(?:^#|[#&])launch=([^&]+)/.exec(location.hash);
  if (m) {
    // The token leaves the address bar before anything else happens.
    history.replaceState(null, '', location.pathname + location.search);
    try {
      await launch(decodeURIComponent(m[1]));
    } catch (e) {
      if (!csrf()) {
        authScreen();
        renderLaunchNeeded(root, e.message);
        return;
      }
    }
  }
  if (!csrf()) {
    authScreen();
    renderLaunchNeeded(root, LAUNCH_SENTENCE);
    return;
  }
  await loadState();
}

async function loadState() {
  let st;
  try {
    st = await get('/api/state');
  } catch (e) {
    if (e.status === 401) return;
    authScreen();
    renderLaunchNeeded(root, e.message);
    return;
  }
  app.state = st;
  app.online = st.online !== false;
  if (!st.profile) {
    authScreen();
    renderCreateProfile(root, loadState);
  } else if (!st.unlocked) {
    authScreen();
    renderUnlock(root, loadState);
  } else if (!st.registered) {
    authScreen();
    renderRegister(root, loadState);
  } else {
    await openShell();
  }
}

function authScreen() {
  teardown();
  screen = 'auth';
  clear(root);
  root.className = 'auth';
}

function teardown() {
  stopEvents();
  stopIdle();
  if (view && view.destroy) view.destroy();
  view = null;
  shell = null;
  app.contacts = [];
  pending.clear();
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
}

// ---------------------------------------------------------------- locking

/** Locked means empty: every message, name and notice leaves the DOM. */
async function lockNow(tellServer) {
  if (screen === 'auth' && !shell) {
    if (tellServer) post('/api/lock').catch(() => {});
    return;
  }
  authScreen();
  if (app.state) app.state.unlocked = false;
  if (tellServer) {
    try {
      await post('/api/lock');
    } catch {
      // the page is empty either way
    }
  }
  renderUnlock(root, loadState);
}

app.hooks.locked = () => {
  if (screen === 'shell') lockNow(false);
};
app.hooks.sessionLost = () => {
  setCsrf(null);
  authScreen();
  renderLaunchNeeded(root, LAUNCH_SENTENCE);
};
app.hooks.offline = () => setOnline(false);
app.hooks.contactsChanged = () => scheduleRefresh('contacts', {});
app.hooks.stateChanged = (st) => {
  if (st) app.state = st;
  startIdle();
  renderBanners();
};

function startIdle() {
  stopIdle();
  if (screen !== 'shell') return;
  const minutes = Number(app.state && app.state.idle_minutes) || 15;
  idleTimer = setTimeout(() => lockNow(true), minutes * 60 * 1000);
}
function stopIdle() {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
}

function onActivity() {
  if (screen !== 'shell') return;
  startIdle();
  // The app process locks after idle minutes without a request; a person reading or typing is
  // not idle, so tell it, at most once a minute.
  const now = Date.now();
  if (now - lastPing > 60000) {
    lastPing = now;
    get('/api/state').then((st) => {
      app.state = st;
      setOnline(st.online !== false);
      renderBanners();
    }).catch(() => {});
  }
}
for (const ev of ['pointerdown', 'keydown', 'wheel', 'touchstart', 'input']) {
  document.addEventListener(ev, onActivity, {passive: true, capture: true});
}

// ---------------------------------------------------------------- the shell

async function openShell() {
  teardown();
  screen = 'shell';
  clear(root);
  root.className = 'shell';
  lastPing = Date.now();

  const nav = h('nav', {class: 'nav', 'aria-label': 'Main'});
  const lock = h('button', {id: 'lock', type: 'button', class: 'ghost lock',
    onclick: () => lockNow(true)}, 'Lock');
  const brand = h('a', {class: 'brand', href: '#/'},
    h('img', {src: '/icon.svg', alt: '', width: 28, height: 28}),
    h('span', {class: 'brand-name'}, discreet() ? 'Notes' : 'Alliance'));
  const header = h('header', {class: 'topbar'}, h('div', {class: 'topbar-row'}, brand, lock), nav);
  const banners = h('div', {class: 'banners', id: 'banners'});
  const contacts = h('ul', {id: 'contacts', class: 'contact-list'});
  const sidebar = h('aside', {class: 'sidebar', 'aria-labelledby': 'contacts-heading'},
    h('h2', {id: 'contacts-heading', class: 'sidebar-title'}, 'Conversations'), contacts);
  const main = h('main', {id: 'main', class: 'main', tabindex: '-1'});
  const layout = h('div', {class: 'layout'}, sidebar, main);
  root.append(header, banners, layout);
  shell = {main, contacts, banners, nav, layout};

  renderNav();
  renderBanners();
  startIdle();
  startEvents(onEvent, (ok) => {
    if (ok) get('/api/state').then((st) => {
      app.state = st;
      setOnline(st.online !== false);
    }).catch(() => {});
  });
  await refreshContacts();
  route();
}

function renderNav() {
  if (!shell) return;
  const r = role();
  const links = [['#/', 'Conversations']];
  if (r === 'therapist') links.push(['#/due', 'Due'], ['#/away', 'Time away'], ['#/admin', 'Invite']);
  if (r === 'admin') links.push(['#/admin', 'Clinic']);
  links.push(['#/settings', 'Settings']);
  const current = currentTop();
  fill(shell.nav, ...links.map(([href, label]) => h('a', {href,
    'aria-current': href === current ? 'page' : null}, label)));
}

function currentTop() {
  const p = parseHash();
  if (p.name === 'list' || p.name.startsWith('c')) return '#/';
  return `#/${p.name}`;
}

function setOnline(online) {
  if (app.online === online) return;
  app.online = online;
  renderBanners();
}

function renderBanners() {
  if (!shell) return;
  clear(shell.banners);
  if (!app.online) {
    shell.banners.append(h('p', {class: 'banner quiet', role: 'status', id: 'offline-banner'},
      "Not connected to the clinic's server right now. Messages you write are queued and will be sent when it's back."));
  }
  const held = app.state && app.state.held_until_text;
  if (held && role() === 'therapist') {
    shell.banners.append(h('p', {class: 'banner quiet', id: 'held-banner'},
      `Outside your working hours — notifications held until ${held}.`));
  }
}

async function refreshContacts() {
  if (!shell) return;
  try {
    await loadContacts();
  } catch {
    return;
  }
  if (!shell) return;
  const p = parseHash();
  renderContactList(shell.contacts, p.id);
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts.length === 0) return {name: 'list'};
  if (parts[0] === 'c' && parts[1]) {
    return {name: parts[2] ? `c-${parts[2]}` : 'c', id: decodeURIComponent(parts[1])};
  }
  return {name: parts[0]};
}

const ROUTES = {
  'c': threadView,
  'c-safety': safetyView,
  'c-agreement': agreementView,
  'c-care': careView,
  'c-digest': digestView,
  'due': dueView,
  'away': awayView,
  'settings': settingsView,
  'admin': adminView,
};

function route() {
  if (screen !== 'shell' || !shell) return;
  if (/launch=/.test(location.hash)) return;
  if (view && view.destroy) view.destroy();
  view = null;
  const p = parseHash();
  const make = ROUTES[p.name];
  clear(shell.main);
  shell.layout.classList.toggle('detail', !!make);
  renderNav();
  renderContactList(shell.contacts, p.id);
  if (!make) {
    shell.main.append(h('div', {class: 'placeholder'},
      h('p', null, app.contacts.length ? 'Choose a conversation to read and write.'
        : 'No conversations yet. When your clinic connects you with someone, they appear here.')));
    return;
  }
  view = make(shell.main, p.id);
  const heading = shell.main.querySelector('h1, h2');
  if (heading && document.activeElement === document.body) {
    heading.setAttribute('tabindex', '-1');
  }
}

window.addEventListener('hashchange', route);

// ---------------------------------------------------------------- live updates

function onEvent(name, data) {
  if (name === 'locked') {
    lockNow(false);
    return;
  }
  if (name === 'online') {
    setOnline(!!data.online);
    return;
  }
  if (name === 'message' && data.incoming !== false) notify(data.contact_id);
  scheduleRefresh(name, data);
}

/** Coalesces bursts of events into one refetch of what is on screen. */
function scheduleRefresh(name, data) {
  const key = `${name}:${data && data.contact_id !== undefined ? data.contact_id : ''}`;
  pending.set(key, {name, data: data || {}});
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const batch = [...pending.values()];
    pending.clear();
    if (screen !== 'shell') return;
    if (batch.some((e) => ['message', 'delivery', 'identity', 'contact', 'due', 'contacts',
      'agreement'].includes(e.name))) {
      await refreshContacts();
    }
    if (view && view.refresh) {
      for (const e of batch) {
        try {
          await view.refresh(e.name, e.data);
        } catch {
          // shown by the view itself
        }
      }
    }
  }, 120);
}

function notify(contactId) {
  if (!notifyWanted() || !('Notification' in window)) return;
  if (Notification.permission !== 'granted') return;
  if (app.state && app.state.held_until_text) return;
  const p = parseHash();
  if (!document.hidden && p.name === 'c' && String(p.id) === String(contactId)) return;
  try {
    // Never a name, never content.
    new Notification(discreet() ? 'Notes' : 'Alliance', {body: 'New message', tag: 'alliance'});
  } catch {
    // some browsers only allow notifications from a service worker
  }
}

boot();
