// What the page knows right now, and hooks main.js installs so other modules can ask for a lock
// or a session reset without importing main.js (no cycles).

export const app = {
  /** The last /api/state answer, or null. */
  state: null,
  /** The last /api/contacts answer. */
  contacts: [],
  online: true,
  hooks: {
    locked: () => {},
    sessionLost: () => {},
    offline: () => {},
  },
};

export function role() {
  return app.state && app.state.account ? app.state.account.role : null;
}

export function contactById(id) {
  return app.contacts.find((c) => String(c.id) === String(id)) || null;
}

const DISCREET = 'alliance.discreet';
const NOTIFY = 'alliance.notify';

export function discreet() {
  return localStorage.getItem(DISCREET) === '1';
}
export function setDiscreet(on) {
  localStorage.setItem(DISCREET, on ? '1' : '0');
}
export function notifyWanted() {
  return localStorage.getItem(NOTIFY) === '1';
}
export function setNotifyWanted(on) {
  localStorage.setItem(NOTIFY, on ? '1' : '0');
}

/** The page title: never a name or message text. */
export function applyTitle() {
  document.title = discreet() ? 'Notes' : 'Alliance';
}
