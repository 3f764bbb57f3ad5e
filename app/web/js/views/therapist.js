// The therapist's pages: "For our next session" (printable), the due list (a calm queue sorted by
// due time) and out-of-office periods.

import {h, fill, clear, field, errorSlot, showIn, busy} from '../dom.js';
import {get, post, cpath} from '../api.js';
import {role, contactById, discreet} from '../state.js';
import {contactName, toLocalInput, fromLocalInput, when} from '../format.js';

function failed(section, title, e) {
  fill(section, h('h1', null, title), h('p', {class: 'error', role: 'alert'}, e.message));
}

export function digestView(main, id) {
  const section = h('section', {class: 'page', id: 'digest', 'aria-labelledby': 'digest-title'});
  main.append(section);
  let destroyed = false;
  async function load() {
    let items;
    try {
      items = await get(cpath(id, '/digest'));
    } catch (e) {
      failed(section, 'For our next session', e);
      return;
    }
    if (destroyed) return;
    const name = contactName(contactById(id), role());
    const print = h('button', {type: 'button', class: 'secondary no-print', id: 'print',
      onclick: () => window.print()}, 'Print');
    fill(section, 
      h('a', {href: `#/c/${encodeURIComponent(id)}`, class: 'back-link no-print'}, `← Back to ${name}`),
      h('div', {class: 'page-head'}, h('h1', {id: 'digest-title'}, 'For our next session'), print),
      h('p', {class: 'lead'}, `What ${name} marked for your next session.`),
      Array.isArray(items) && items.length
        ? h('ol', {class: 'digest', id: 'digest-items'}, items.map((m) => h('li',
          {class: 'card', dataset: {id: String(m.message_id)}},
          h('p', {class: 'meta'}, m.time_text || '', m.urgent ? h('span', {class: 'tag urgent'}, 'Urgent') : null),
          h('p', {class: 'body'}, m.body))))
        : h('p', {class: 'muted', id: 'digest-items'}, 'Nothing marked for the next session yet.'));
  }
  load();
  return {
    async refresh(name, ev) {
      if (name === 'message' && String(ev.contact_id) === String(id)) await load();
    },
    destroy() {
      destroyed = true;
    },
  };
}

export function dueView(main) {
  const section = h('section', {class: 'page', id: 'due', 'aria-labelledby': 'due-title'});
  main.append(section);
  let destroyed = false;
  async function load() {
    let items;
    try {
      items = await get('/api/due');
    } catch (e) {
      failed(section, 'Waiting for a reply', e);
      return;
    }
    if (destroyed) return;
    fill(section, 
      h('h1', {id: 'due-title'}, 'Waiting for a reply'),
      h('p', {class: 'lead'}, 'Messages that asked for a reply, the soonest due first.'),
      Array.isArray(items) && items.length
        ? h('ol', {class: 'due-list', id: 'due-list'}, items.map((d) => h('li',
          {class: d.overdue ? 'card due-item overdue' : 'card due-item'},
          h('a', {href: `#/c/${encodeURIComponent(d.contact_id)}`, class: 'due-link'},
            h('span', {class: 'due-top'},
              h('span', {class: 'due-name'}, d.contact_name || contactName(contactById(d.contact_id), 'therapist')),
              d.urgent ? h('span', {class: 'tag urgent'}, 'Urgent') : null,
              d.waiting > 1 ? h('span', {class: 'tag'}, `${d.waiting} waiting`) : null),
            h('span', {class: d.overdue ? 'due overdue' : 'due'},
              d.overdue ? `Was due ${d.due_text}` : `Reply by ${d.due_text}`),
            !discreet() && d.body ? h('span', {class: 'due-body'}, d.body) : null))))
        : h('p', {class: 'muted', id: 'due-list'}, 'Nothing is waiting for a reply.'));
  }
  load();
  return {
    async refresh(name) {
      if (['due', 'message', 'delivery'].includes(name)) await load();
    },
    destroy() {
      destroyed = true;
    },
  };
}

export function awayView(main) {
  const section = h('section', {class: 'page', id: 'away', 'aria-labelledby': 'away-title'});
  main.append(section);
  let destroyed = false;

  async function load() {
    let periods;
    try {
      periods = await get('/api/out-of-office');
    } catch (e) {
      failed(section, 'Time away', e);
      return;
    }
    if (destroyed) return;
    const rows = h('ol', {class: 'away-rows', id: 'away-rows'});
    const addRow = (p) => {
      const n = rows.children.length + 1;
      const start = field(`From (period ${n})`, 'input', {type: 'datetime-local',
        value: toLocalInput(p.start), class: 'a-start'});
      const end = field(`Until (period ${n})`, 'input', {type: 'datetime-local',
        value: toLocalInput(p.end), class: 'a-end'});
      const notice = field(`What your clients see (period ${n})`, 'textarea', {rows: 2,
        value: p.notice || '', class: 'a-notice'},
      'For example who covers for you: "Dr. Chen (clinic line 030 1234) covers while I am away."');
      const li = h('li', {class: 'card away-row'}, h('div', {class: 'two'}, start.wrap, end.wrap),
        notice.wrap);
      li.append(h('button', {type: 'button', class: 'ghost', onclick: () => {
        li.remove();
        add.focus();
      }}, 'Remove this period'));
      rows.append(li);
      return li;
    };
    for (const p of Array.isArray(periods) ? periods : []) addRow(p);
    const add = h('button', {type: 'button', class: 'secondary', id: 'add-away', onclick: () => {
      const now = Date.now();
      addRow({start: now, end: now + 7 * 24 * 3600 * 1000, notice: ''}).querySelector('input').focus();
    }}, 'Add a period');
    const err = errorSlot('away-error');
    const saved = h('p', {class: 'hint', role: 'status'});
    const save = h('button', {type: 'submit', class: 'primary', id: 'save-away'}, 'Save');
    const form = h('form', {id: 'away-form', novalidate: true}, rows, add, err,
      h('div', {class: 'button-row'}, save), saved);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const list = [...rows.children].map((li) => ({
        start: fromLocalInput(li.querySelector('.a-start').value),
        end: fromLocalInput(li.querySelector('.a-end').value),
        notice: li.querySelector('.a-notice').value.trim()}));
      if (list.some((p) => !p.start || !p.end)) return showIn(err, 'Please give every period a start and an end.');
      if (list.some((p) => p.end <= p.start)) return showIn(err, 'Each period has to end after it starts.');
      showIn(err, '');
      busy(save, async () => {
        try {
          await post('/api/out-of-office', {periods: list});
          saved.textContent = list.length
            ? `Saved. Your clients see the notice from ${when(list[0].start)}.` : 'Saved. No time away planned.';
        } catch (e) {
          showIn(err, e.message);
        }
      });
    });
    fill(section, h('h1', {id: 'away-title'}, 'Time away'),
      h('p', {class: 'lead'}, 'While you are away, your clients see your notice at the top of their conversation, and replies are not expected.'),
      form);
  }
  load();
  return {
    destroy() {
      destroyed = true;
    },
  };
}
