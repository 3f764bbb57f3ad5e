// The care agreement: the one in force, its history, a client's view of a pending proposal (what
// changed, Accept), and a therapist's form to propose one.

import {h, fill, clear, field, checkbox, errorSlot, showIn, busy} from '../dom.js';
import {get, post, cpath} from '../api.js';
import {role, contactById} from '../state.js';
import {contactName, when, windowLine, DAY_KEYS, DAY_NAMES} from '../format.js';

let zonesCache = null;
async function timezones() {
  if (!zonesCache) {
    const list = await get('/api/timezones');
    zonesCache = Array.isArray(list) ? list : [];
  }
  return zonesCache;
}

function agreementCard(a, heading, id) {
  const windows = (a.windows || []).map(windowLine);
  return h('article', {class: 'card agreement', id},
    h('h2', null, heading),
    h('dl', {class: 'facts'},
      h('dt', null, 'Hours'), h('dd', null, windows.length ? windows.join(' · ') : 'None set'),
      h('dt', null, 'Time zone'), h('dd', null, a.time_zone || '—'),
      h('dt', null, 'Replies within'), h('dd', null, `${a.reply_within_hours} working hours`),
      h('dt', null, 'Messages kept for'), h('dd', null, `${a.retention_days} days`),
      h('dt', null, 'Read receipts'), h('dd', null, a.read_receipts ? 'On' : 'Off')),
    a.emergency_notice ? h('p', {class: 'emergency'}, a.emergency_notice) : null,
    h('p', {class: 'hint'}, `Version ${a.version}`, a.proposed_at ? ` · proposed ${when(a.proposed_at)}` : ''));
}

export function agreementView(main, id) {
  const me = role();
  const section = h('section', {class: 'page', id: 'agreement', 'aria-labelledby': 'agreement-title'});
  main.append(section);
  let destroyed = false;
  let formOpen = false;

  async function load() {
    let ag;
    try {
      ag = await get(cpath(id, '/agreement'));
    } catch (e) {
      fill(section, h('h1', {id: 'agreement-title'}, 'Care agreement'),
        h('p', {class: 'error', role: 'alert'}, e.message));
      return;
    }
    if (destroyed || formOpen) return;
    const name = contactName(contactById(id), me);
    const err = errorSlot('agreement-error');
    const parts = [
      h('a', {href: `#/c/${encodeURIComponent(id)}`, class: 'back-link'}, `← Back to ${name}`),
      h('h1', {id: 'agreement-title'}, 'Care agreement'),
      h('p', {class: 'lead'}, me === 'therapist'
        ? 'When you are available, how soon you reply, and what to do in an emergency. Your client sees it next to the compose box.'
        : `When ${name} is available, how soon they reply, and what to do in an emergency.`),
    ];
    if (ag.pending) {
      const changes = (ag.changes || []).length
        ? h('ul', {id: 'agreement-changes', class: 'changes'}, ag.changes.map((c) => h('li', null, c)))
        : h('p', null, 'This is the first agreement.');
      const card = agreementCard(ag.pending, me === 'client'
        ? `${name} proposes a new agreement` : 'Waiting for your client to accept', 'agreement-pending');
      card.insertBefore(h('div', {class: 'changes-box'}, h('h3', null, 'What changes'), changes),
        card.children[1]);
      if (me === 'client') {
        const accept = h('button', {type: 'button', class: 'primary', id: 'accept-agreement'},
          'Accept this agreement');
        accept.addEventListener('click', () => busy(accept, async () => {
          try {
            await post(cpath(id, '/agreement/accept'));
            await load();
          } catch (e) {
            showIn(err, e.message);
          }
        }));
        card.append(err, accept);
      }
      parts.push(card);
    }
    parts.push(ag.in_force ? agreementCard(ag.in_force, 'In force', 'agreement-in-force')
      : h('p', {class: 'card', id: 'agreement-in-force'}, 'No agreement is in force yet.'));
    if (me === 'therapist') {
      const open = h('button', {type: 'button', class: 'secondary', id: 'propose-open'},
        ag.in_force || ag.pending ? 'Propose a change' : 'Propose an agreement');
      const holder = h('div');
      open.addEventListener('click', async () => {
        open.hidden = true;
        formOpen = true;
        try {
          holder.append(await proposeForm(id, ag.pending || ag.in_force, async () => {
            formOpen = false;
            await load();
          }, () => {
            formOpen = false;
            load();
          }));
          holder.querySelector('select, input').focus();
        } catch (e) {
          formOpen = false;
          open.hidden = false;
          showIn(err, e.message);
        }
      });
      parts.push(err, open, holder);
    }
    const history = (ag.history || []).filter((a) => !ag.in_force || a.version !== ag.in_force.version);
    if (history.length) {
      parts.push(h('details', {class: 'history', id: 'agreement-history'},
        h('summary', null, `Earlier versions (${history.length})`),
        history.map((a) => agreementCard(a, `Version ${a.version}`))));
    }
    fill(section, ...parts);
  }

  load();
  return {
    async refresh(name, ev) {
      if (name === 'agreement' && String(ev.contact_id) === String(id)) await load();
    },
    destroy() {
      destroyed = true;
    },
  };
}

async function proposeForm(id, base, done, cancel) {
  const zones = await timezones();
  const b = base || {time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
    windows: [{day: 'mon', start: '09:00', end: '17:00'}], reply_within_hours: 24,
    emergency_notice: '', retention_days: 365, read_receipts: true};

  const tz = field('Time zone', 'select', {id: 'tz'});
  const tzList = zones.includes(b.time_zone) ? zones : [b.time_zone, ...zones];
  for (const z of tzList) tz.input.append(h('option', {value: z, selected: z === b.time_zone}, z));

  const rows = h('ol', {class: 'windows', id: 'windows'});
  const addRow = (w) => {
    const li = h('li', {class: 'window-row'});
    const n = rows.children.length + 1;
    const day = h('select', {'aria-label': `Day of window ${n}`, class: 'w-day'},
      DAY_KEYS.map((d) => h('option', {value: d, selected: d === w.day}, DAY_NAMES[d])));
    const start = h('input', {type: 'time', value: w.start, 'aria-label': `Start of window ${n}`,
      class: 'w-start', required: true});
    const end = h('input', {type: 'time', value: w.end, 'aria-label': `End of window ${n}`,
      class: 'w-end', required: true});
    const remove = h('button', {type: 'button', class: 'ghost', 'aria-label': `Remove window ${n}`,
      onclick: () => {
        li.remove();
        add.focus();
      }}, 'Remove');
    li.append(day, start, h('span', {'aria-hidden': 'true'}, '–'), end, remove);
    rows.append(li);
    return li;
  };
  for (const w of b.windows || []) addRow(w);
  const add = h('button', {type: 'button', class: 'secondary', id: 'add-window', onclick: () => {
    const last = rows.lastElementChild;
    const li = addRow(last
      ? {day: DAY_KEYS[(DAY_KEYS.indexOf(last.querySelector('.w-day').value) + 1) % 7],
        start: last.querySelector('.w-start').value, end: last.querySelector('.w-end').value}
      : {day: 'mon', start: '09:00', end: '17:00'});
    li.querySelector('select').focus();
  }}, 'Add a window');

  const reply = field('Reply within (working hours)', 'input', {id: 'reply-within', type: 'number',
    min: 1, max: 336, value: String(b.reply_within_hours)});
  const retention = field('Keep messages for (days)', 'input', {id: 'retention', type: 'number',
    min: 1, max: 3650, value: String(b.retention_days)});
  const emergency = field('Emergency notice', 'textarea', {id: 'emergency', rows: 3,
    value: b.emergency_notice || ''},
  'Shown to your client exactly as you write it, next to where they write, e.g. "This is not an emergency service: call 112 or the crisis line …".');
  const receipts = checkbox('Read receipts', {id: 'agreement-receipts', checked: !!b.read_receipts});
  const err = errorSlot('propose-error');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'propose'}, 'Propose');
  const cancelBtn = h('button', {type: 'button', class: 'ghost', onclick: cancel}, 'Cancel');

  const form = h('form', {id: 'agreement-form', class: 'card', novalidate: true},
    h('h2', null, 'Propose an agreement'), tz.wrap,
    h('fieldset', null, h('legend', null, 'Weekly hours'), rows, add),
    reply.wrap, retention.wrap, emergency.wrap, receipts.wrap, err,
    h('div', {class: 'button-row'}, submit, cancelBtn));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const windows = [...rows.children].map((li) => ({day: li.querySelector('.w-day').value,
      start: li.querySelector('.w-start').value, end: li.querySelector('.w-end').value}));
    if (windows.some((w) => !w.start || !w.end)) return showIn(err, 'Please give every window a start and an end.');
    const data = {time_zone: tz.input.value, windows,
      reply_within_hours: Number(reply.input.value), emergency_notice: emergency.input.value.trim(),
      retention_days: Number(retention.input.value), read_receipts: receipts.input.checked};
    busy(submit, async () => {
      try {
        await post(cpath(id, '/agreement'), data);
        await done();
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });
  return form;
}
