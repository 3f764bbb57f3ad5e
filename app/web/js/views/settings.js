// Settings: idle lock, read receipts, discreet mode, browser notifications, export.

import {h, field, checkbox, errorSlot, showIn, busy} from '../dom.js';
import {get, post} from '../api.js';
import {app, role, discreet, setDiscreet, notifyWanted, setNotifyWanted, applyTitle} from '../state.js';
import {contactName, roleLabel} from '../format.js';
import {downloadExport} from '../export.js';

export function settingsView(main) {
  const st = app.state || {};
  const account = st.account || {};
  const err = errorSlot('settings-error');
  const saved = h('p', {class: 'hint', role: 'status', id: 'settings-saved'});

  const idle = field('Lock after this many minutes without use', 'input', {id: 'idle-minutes',
    type: 'number', min: 1, max: 240, value: String(st.idle_minutes || 15)},
  'Alliance empties the screen and asks for your passphrase again.');
  const receipts = checkbox('Let others see when I have read their messages',
    {id: 'read-receipts', checked: !!account.read_receipts});
  const save = h('button', {type: 'submit', class: 'primary', id: 'save-settings'}, 'Save');
  const form = h('form', {id: 'settings-form', class: 'card', novalidate: true},
    h('h2', null, 'Privacy'), idle.wrap, receipts.wrap, err, save, saved);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const minutes = Math.round(Number(idle.input.value));
    if (!(minutes >= 1 && minutes <= 240)) return showIn(err, 'Please choose between 1 and 240 minutes.');
    showIn(err, '');
    busy(save, async () => {
      try {
        const next = await post('/api/settings', {idle_minutes: minutes,
          read_receipts: receipts.input.checked});
        if (next && next.account) app.hooks.stateChanged(next);
        else app.hooks.stateChanged(await get('/api/state'));
        saved.textContent = 'Saved.';
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });

  // Discreet mode and notifications are this browser's choices.
  const disc = checkbox('Discreet mode: call the window "Notes" and hide message previews',
    {id: 'discreet', checked: discreet()});
  disc.input.addEventListener('change', () => {
    setDiscreet(disc.input.checked);
    applyTitle();
    const brand = document.querySelector('.brand-name');
    if (brand) brand.textContent = disc.input.checked ? 'Notes' : 'Alliance';
    if (app.hooks.contactsChanged) app.hooks.contactsChanged();
  });
  const supported = 'Notification' in window;
  const notif = checkbox('Show "New message" notifications (never names or content)',
    {id: 'notifications', checked: supported && notifyWanted() && Notification.permission === 'granted',
      disabled: !supported});
  const notifNote = h('p', {class: 'hint', role: 'status', id: 'notifications-note'},
    supported ? '' : "This browser can't show notifications.");
  notif.input.addEventListener('change', async () => {
    if (!notif.input.checked) {
      setNotifyWanted(false);
      notifNote.textContent = '';
      return;
    }
    let perm = Notification.permission;
    if (perm === 'default') {
      try {
        perm = await Notification.requestPermission();
      } catch {
        perm = 'denied';
      }
    }
    if (perm === 'granted') {
      setNotifyWanted(true);
      notifNote.textContent = '';
    } else {
      setNotifyWanted(false);
      notif.input.checked = false;
      notifNote.textContent = 'Notifications are blocked in this browser; you can allow them in its site settings.';
    }
  });
  const device = h('section', {class: 'card', 'aria-labelledby': 'device-title'},
    h('h2', {id: 'device-title'}, 'On this computer'), disc.wrap, notif.wrap, notifNote);

  const exportErr = errorSlot('export-error');
  const exports = h('section', {class: 'card', 'aria-labelledby': 'export-title'},
    h('h2', {id: 'export-title'}, 'Download a conversation'),
    h('p', {class: 'hint'}, 'A file with the whole conversation. Keep it somewhere private.'),
    app.contacts.length
      ? h('ul', {class: 'plain'}, app.contacts.map((c) => {
        const b = h('button', {type: 'button', class: 'secondary', dataset: {id: String(c.id)}},
          `Download conversation with ${contactName(c, role())}`);
        b.addEventListener('click', () => busy(b, async () => {
          try {
            await downloadExport(c.id);
          } catch (e) {
            showIn(exportErr, e.message);
          }
        }));
        return h('li', null, b);
      }))
      : h('p', {class: 'muted'}, 'No conversations yet.'),
    exportErr);

  const about = h('section', {class: 'card', 'aria-labelledby': 'account-title'},
    h('h2', {id: 'account-title'}, 'Your account'),
    h('dl', {class: 'facts'},
      h('dt', null, 'Name'), h('dd', null, account.name || '—'),
      h('dt', null, 'Role'), h('dd', null, roleLabel(account.role) || '—'),
      h('dt', null, "Clinic's server"), h('dd', null, account.relay || '—')));

  main.append(h('section', {class: 'page', id: 'settings', 'aria-labelledby': 'settings-title'},
    h('h1', {id: 'settings-title'}, 'Settings'), form, device, exports, about));
  return {};
}
