// The conversation list: name, role, unread count, verified badge; for a therapist the reply due
// time of each waiting thread, overdue ones marked (calmly).

import {h, clear} from '../dom.js';
import {get} from '../api.js';
import {app, role, discreet} from '../state.js';
import {contactName, roleLabel} from '../format.js';

export async function loadContacts() {
  const list = await get('/api/contacts');
  app.contacts = Array.isArray(list) ? list : [];
  return app.contacts;
}

export function renderContactList(ul, activeId) {
  clear(ul);
  const me = role();
  if (!app.contacts.length) {
    ul.append(h('li', {class: 'empty'}, me === 'admin'
      ? 'Admins manage the clinic; conversations are between clients and therapists.'
      : 'No conversations yet.'));
    return;
  }
  for (const c of app.contacts) {
    const active = activeId !== undefined && String(c.id) === String(activeId);
    const badges = h('span', {class: 'badges'});
    if (c.identity_changed) badges.append(h('span', {class: 'tag attention'}, 'Check safety number'));
    else if (c.verified) badges.append(h('span', {class: 'tag verified', title: 'Safety number compared'}, '✓ Verified'));
    if (c.unread > 0) {
      badges.append(h('span', {class: 'unread', 'aria-label': `${c.unread} new`}, String(c.unread)));
    }
    const lines = [h('span', {class: 'contact-role'}, roleLabel(c.role))];
    if (c.due && me === 'therapist') {
      const d = c.due;
      lines.push(h('span', {class: d.overdue ? 'due overdue' : 'due'},
        d.overdue ? `Reply was due ${d.due_text}` : `Reply by ${d.due_text}`));
      if (d.urgent) badges.prepend(h('span', {class: 'tag urgent'}, 'Urgent'));
    } else if (!discreet() && c.messages) {
      lines.push(h('span', {class: 'contact-count'},
        `${c.messages} message${c.messages === 1 ? '' : 's'}`));
    }
    const a = h('a', {href: `#/c/${encodeURIComponent(c.id)}`, class: 'contact-link',
      'aria-current': active ? 'page' : null, dataset: {id: String(c.id)}},
    h('span', {class: 'avatar', 'aria-hidden': 'true'}, initial(contactName(c, me))),
    h('span', {class: 'contact-text'},
      h('span', {class: 'contact-name'}, contactName(c, me)),
      h('span', {class: 'contact-sub'}, ...lines)),
    badges);
    ul.append(h('li', {class: c.due && c.due.overdue ? 'contact overdue' : 'contact'}, a));
  }
}

function initial(name) {
  const ch = String(name).trim().replace(/^(dr\.?\s+)/i, '')[0];
  return ch ? ch.toUpperCase() : '•';
}
