// Clinic admin: invites (code and QR), members (deactivate, after a confirmation), and the audit
// log with the hash chain's verification result. Admins see ids and roles, never content.
// A therapist sees only the invite part (to invite clients).

import {h, fill, clear, field, checkbox, errorSlot, showIn, busy} from '../dom.js';
import {get, post} from '../api.js';
import {role} from '../state.js';
import {roleLabel} from '../format.js';
import {qrSvg} from '../qr.js';

export function adminView(main) {
  const me = role();
  const section = h('section', {class: 'page', id: 'admin', 'aria-labelledby': 'admin-title'},
    h('h1', {id: 'admin-title'}, me === 'admin' ? 'Clinic' : 'Invite a client'));
  main.append(section);
  section.append(inviteCard(me));
  let members = null;
  let audit = null;
  if (me === 'admin') {
    members = membersCard();
    audit = auditCard();
    section.append(members.el, audit.el);
  }
  return {};
}

function inviteCard(me) {
  const roles = me === 'admin' ? ['therapist', 'client', 'admin'] : ['client'];
  const roleField = field('Invite as', 'select', {id: 'invite-role'});
  for (const r of roles) roleField.input.append(h('option', {value: r}, roleLabel(r)));
  const err = errorSlot('invite-error');
  const result = h('div', {class: 'invite-result', id: 'invite-result', 'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'create-invite'}, 'Create invite');
  const form = h('form', {id: 'invite-form', novalidate: true}, roles.length > 1 ? roleField.wrap : null,
    err, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      try {
        const inv = await post('/api/admin/invites', {role: roles.length > 1 ? roleField.input.value : roles[0]});
        fill(result, 
          h('p', null, `Invite for a ${roleLabel(inv.role).toLowerCase()}${inv.expires_text ? `, valid until ${inv.expires_text}` : ''}:`),
          h('p', {class: 'code', id: 'invite-code'}, inv.code),
          inv.qr ? h('figure', {class: 'qr-figure'}, qrSvg(inv.qr, 'QR code of the invite'),
            h('figcaption', null, 'Give the code in person or by phone; anyone with it can join once.')) : null);
        showIn(err, '');
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });
  return h('section', {class: 'card', 'aria-labelledby': 'invite-title'},
    h('h2', {id: 'invite-title'}, 'Invite someone'), form, result);
}

function membersCard() {
  const el = h('section', {class: 'card', 'aria-labelledby': 'members-title'},
    h('h2', {id: 'members-title'}, 'Members'));
  const body = h('div', {id: 'members'});
  const err = errorSlot('members-error');
  const dialogText = h('p');
  const yes = h('button', {type: 'button', class: 'secondary', id: 'confirm-deactivate'}, 'Deactivate');
  const no = h('button', {type: 'button', class: 'primary', id: 'cancel-deactivate'}, 'Keep active');
  const dialog = h('dialog', {class: 'dialog', id: 'deactivate-dialog', 'aria-labelledby': 'deactivate-title'},
    h('h2', {id: 'deactivate-title'}, 'Deactivate this member?'), dialogText,
    h('div', {class: 'dialog-buttons equal'}, no, yes));
  let target = null;
  let returnFocus = null;
  no.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  });
  yes.addEventListener('click', () => busy(yes, async () => {
    try {
      await post(`/api/admin/members/${encodeURIComponent(target)}/deactivate`);
      dialog.close();
      await load();
    } catch (e) {
      dialog.close();
      showIn(err, e.message);
    }
  }));
  el.append(err, body, dialog);

  async function load() {
    let list;
    try {
      list = await get('/api/admin/members');
    } catch (e) {
      showIn(err, e.message);
      return;
    }
    const rows = (Array.isArray(list) ? list : []).map((m) => {
      const active = m.state !== 'deactivated' && m.state !== 'inactive';
      const b = active ? h('button', {type: 'button', class: 'ghost small',
        'aria-label': `Deactivate ${roleLabel(m.role).toLowerCase()} ${m.id}`,
        onclick: (ev) => {
          target = m.id;
          returnFocus = ev.currentTarget;
          dialogText.textContent = `${roleLabel(m.role)} ${m.id} will no longer be able to send or receive messages.`;
          dialog.showModal();
          no.focus();
        }}, 'Deactivate') : null;
      return h('tr', {dataset: {id: String(m.id)}}, h('td', {class: 'mono'}, String(m.id)),
        h('td', null, roleLabel(m.role)), h('td', null, m.state), h('td', null, m.created_text || ''),
        h('td', null, b));
    });
    fill(body, rows.length
      ? h('div', {class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Members'},
        h('table', null,
        h('thead', null, h('tr', null, ['Id', 'Role', 'State', 'Joined', ''].map((t) =>
          h('th', {scope: 'col'}, t || h('span', {class: 'visually-hidden'}, 'Actions'))))),
        h('tbody', null, rows)))
      : h('p', {class: 'muted'}, 'No members yet.'));
  }
  load();
  return {el, load};
}

function auditCard() {
  const security = checkbox('Security events only', {id: 'security-only'});
  const chain = h('p', {id: 'audit-chain', class: 'chain'});
  const body = h('div', {id: 'audit'});
  const err = errorSlot('audit-error');
  const el = h('section', {class: 'card', 'aria-labelledby': 'audit-title'},
    h('h2', {id: 'audit-title'}, 'Audit log'), security.wrap, chain, err, body);
  security.input.addEventListener('change', load);

  async function load() {
    let a;
    try {
      a = await get(`/api/admin/audit?security=${security.input.checked ? 1 : 0}`);
    } catch (e) {
      showIn(err, e.message);
      return;
    }
    showIn(err, '');
    const intact = a.chain === 'intact';
    chain.className = intact ? 'chain ok' : 'chain broken';
    chain.textContent = intact
      ? `The log is intact: all ${a.checked} entries check out.`
      : `The log has been altered (${a.chain}). Please tell whoever runs the clinic's server.`;
    const entries = a.entries || [];
    fill(body, entries.length
      ? h('div', {class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Audit entries'},
        h('table', null,
        h('thead', null, h('tr', null, ['#', 'When', 'Event', 'By', 'About', 'Role'].map((t) =>
          h('th', {scope: 'col'}, t)))),
        h('tbody', null, entries.map((e) => h('tr', null,
          h('td', null, String(e.sequence)), h('td', null, e.time_text || ''),
          h('td', null, e.event), h('td', {class: 'mono'}, e.actor || ''),
          h('td', {class: 'mono'}, e.subject || ''), h('td', null, e.role || ''))))))
      : h('p', {class: 'muted'}, 'No entries.'));
  }
  load();
  return {el, load};
}
