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

  const devices = devicesCard();
  main.append(h('section', {class: 'page', id: 'settings', 'aria-labelledby': 'settings-title'},
    h('h1', {id: 'settings-title'}, 'Settings'), form, device, devices, exports, about));
  return {};
}

/** Your devices: the list, linking a new one with its code, removing a lost one. */
function devicesCard() {
  const list = h('ul', {class: 'plain device-list', id: 'device-list'});
  const err = errorSlot('devices-error');
  const done = h('p', {class: 'hint', role: 'status', id: 'devices-status'});
  async function refresh() {
    try {
      const all = await get('/api/devices');
      list.replaceChildren(...all.map((d) => {
        const seen = d.last_seen_text && !d.this_device ? `, last seen ${d.last_seen_text}` : '';
        const label = `${d.name || `Device ${d.id}`} — added ${d.added_text}${seen}`;
        if (d.this_device) return h('li', {dataset: {id: String(d.id)}}, `${label} (this device)`);
        const remove = h('button', {type: 'button', class: 'secondary', dataset: {id: String(d.id)}},
          'Remove');
        remove.addEventListener('click', () => {
          if (!window.confirm(`Remove ${d.name || `device ${d.id}`}? It stops receiving your messages at once.`)) return;
          busy(remove, async () => {
            try {
              await post('/api/devices/remove', {id: d.id});
              done.textContent = 'Removed. That device can no longer read or send as you.';
              await refresh();
            } catch (e) {
              showIn(err, e.message);
            }
          });
        });
        return h('li', {dataset: {id: String(d.id)}}, label, ' ', remove);
      }));
    } catch (e) {
      showIn(err, e.message);
    }
  }
  const code = field('Code shown on the new device', 'input', {id: 'approve-code',
    autocomplete: 'off', spellcheck: false, required: true});
  const name = field('A name for it', 'input', {id: 'approve-name', autocomplete: 'off',
    placeholder: 'Laptop'});
  const approve = h('button', {type: 'submit', class: 'primary', id: 'approve-device'}, 'Link this device');
  const form = h('form', {id: 'approve-form', novalidate: true}, code.wrap, name.wrap, approve);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!code.input.value.trim()) return showIn(err, 'Please type the code the new device shows.');
    showIn(err, '');
    busy(approve, async () => {
      try {
        await post('/api/devices/approve', {code: code.input.value.trim(), name: name.input.value.trim()});
        code.input.value = '';
        name.input.value = '';
        done.textContent = 'Approved. The new device finishes by itself in a few seconds.';
        setTimeout(refresh, 3000);
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });
  refresh();
  return h('section', {class: 'card', 'aria-labelledby': 'devices-title', id: 'devices'},
    h('h2', {id: 'devices-title'}, 'Your devices'),
    h('p', {class: 'hint'}, 'Every device you link reads and sends as you. Remove a device you no longer have.'),
    list, h('h3', null, 'Link a new device'),
    h('p', {class: 'hint'}, 'On the new device, open Alliance and choose "I already use Alliance on another device".'),
    form, err, done);
}
