// The safety number screen: 60 digits in 12 groups of 5 to read aloud, a QR code to scan, and
// "They match — mark as verified" (or accept a changed number).

import {h, fill, clear, errorSlot, showIn, busy} from '../dom.js';
import {get, post, cpath} from '../api.js';
import {app, role, contactById} from '../state.js';
import {contactName} from '../format.js';
import {qrSvg} from '../qr.js';

export function safetyView(main, id) {
  const section = h('section', {class: 'page', id: 'safety', 'aria-labelledby': 'safety-title'});
  main.append(section);
  let destroyed = false;

  async function load() {
    let s;
    try {
      s = await get(cpath(id, '/safety'));
    } catch (e) {
      fill(section, h('h1', {id: 'safety-title'}, 'Safety number'),
        h('p', {class: 'error', role: 'alert'}, e.message));
      return;
    }
    if (destroyed) return;
    const name = contactName(contactById(id), role());
    const err = errorSlot('safety-error');
    const groups = Array.isArray(s.groups) && s.groups.length ? s.groups
      : String(s.digits || '').match(/.{1,5}/g) || [];
    const digits = h('ol', {id: 'safety-digits', class: 'safety-digits',
      'aria-label': 'Safety number, in 12 groups of 5 digits'},
    groups.map((g) => h('li', null, g)));
    let action;
    if (s.identity_changed) {
      action = h('button', {type: 'button', class: 'primary', id: 'mark-verified'},
        'They match — accept the new number');
      action.addEventListener('click', () => busy(action, async () => {
        try {
          await post(cpath(id, '/accept'), {digits: s.digits});
          await post(cpath(id, '/verify'), {digits: s.digits});
          if (app.hooks.contactsChanged) app.hooks.contactsChanged();
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      }));
    } else if (s.verified) {
      action = h('p', {class: 'verified-note', id: 'verified-note'},
        h('span', {class: 'tag verified'}, '✓ Verified'),
        ` You compared these numbers with ${name}.`);
    } else {
      action = h('button', {type: 'button', class: 'primary', id: 'mark-verified'},
        'They match — mark as verified');
      action.addEventListener('click', () => busy(action, async () => {
        try {
          await post(cpath(id, '/verify'), {digits: s.digits});
          if (app.hooks.contactsChanged) app.hooks.contactsChanged();
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      }));
    }
    fill(section, 
      h('a', {href: `#/c/${encodeURIComponent(id)}`, class: 'back-link'}, `← Back to ${name}`),
      h('h1', {id: 'safety-title'}, 'Safety number'),
      s.identity_changed
        ? h('p', {class: 'banner identity'}, `${name}'s safety number has changed. This can happen when they set up a new device. Compare the new numbers with them in person or on a call before you write again.`)
        : null,
      h('p', {class: 'lead'}, `Compare these numbers with ${name} in person or on a call. Read them aloud in groups; if every group matches, your messages reach only them.`),
      h('div', {class: 'safety-grid'}, digits,
        h('figure', {class: 'qr-figure'}, qrSvg(s.qr, 'QR code of the safety number'),
          h('figcaption', null, 'Or scan this code with their app.'))),
      err, action,
      h('p', {class: 'hint'}, "If the numbers don't match, don't write anything private. Tell your clinic."));
  }
  load();
  return {
    async refresh(name, ev) {
      if (name === 'identity' && String(ev.contact_id) === String(id)) await load();
    },
    destroy() {
      destroyed = true;
    },
  };
}
