// Concerns (open → acknowledged / deferred → addressed → closed) and goals with progress bars,
// for both sides.

import {h, fill, clear, field, errorSlot, showIn, busy} from '../dom.js';
import {get, post, cpath} from '../api.js';
import {role, contactById} from '../state.js';
import {contactName} from '../format.js';

const STATE_LABEL = {open: 'Open', acknowledged: 'Acknowledged', deferred: 'Later',
  addressed: 'Addressed', closed: 'Closed'};
const STEPS = {
  open: ['acknowledge', 'defer', 'address', 'close'],
  acknowledged: ['defer', 'address', 'close'],
  deferred: ['acknowledge', 'address', 'close'],
  addressed: ['close'],
  closed: [],
};
const STEP_LABEL = {acknowledge: 'Acknowledge', defer: 'Come back to it later',
  address: 'Mark addressed', close: 'Close'};

export function careView(main, id) {
  const me = role();
  const section = h('section', {class: 'page', id: 'care', 'aria-labelledby': 'care-title'});
  main.append(section);
  let destroyed = false;

  async function load(focusId) {
    let care;
    try {
      care = await get(cpath(id, '/care'));
    } catch (e) {
      fill(section, h('h1', {id: 'care-title'}, 'Concerns & goals'),
        h('p', {class: 'error', role: 'alert'}, e.message));
      return;
    }
    if (destroyed) return;
    const name = contactName(contactById(id), me);
    const concerns = care.concerns || [];
    const goals = care.goals || [];
    fill(section, 
      h('a', {href: `#/c/${encodeURIComponent(id)}`, class: 'back-link'}, `← Back to ${name}`),
      h('h1', {id: 'care-title'}, 'Concerns & goals'),
      h('p', {class: 'lead'}, me === 'client'
        ? `Things you want to work on with ${name}, and how they are going.`
        : 'What your client raised, and the goals you set together.'),
      h('h2', null, 'Concerns'),
      concerns.length
        ? h('ul', {class: 'card-list', id: 'concerns'}, concerns.map(concernItem))
        : h('p', {class: 'muted', id: 'concerns'}, 'No concerns yet.'),
      newConcernForm(),
      h('h2', null, 'Goals'),
      goals.length
        ? h('ul', {class: 'card-list', id: 'goals'}, goals.map(goalItem))
        : h('p', {class: 'muted', id: 'goals'}, 'No goals yet.'),
      newGoalForm());
    if (focusId) {
      const el = section.querySelector(`[data-focus="${focusId}"]`);
      if (el) el.focus();
    }
  }

  function concernItem(c) {
    const err = errorSlot(null);
    const note = h('input', {type: 'text', 'aria-label': `Note for "${c.title}" (optional)`,
      placeholder: 'Note (optional)', class: 'inline-note'});
    const buttons = (STEPS[c.state] || []).map((step) => {
      const b = h('button', {type: 'button', class: 'secondary small', dataset: {step}},
        STEP_LABEL[step]);
      b.addEventListener('click', () => busy(b, async () => {
        try {
          await post(cpath(id, `/concerns/${encodeURIComponent(c.id)}`), {step, note: note.value.trim()});
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      }));
      return b;
    });
    return h('li', {class: `card concern state-${c.state}`, dataset: {id: String(c.id)}},
      h('div', {class: 'card-head'}, h('h3', null, c.title),
        h('span', {class: `tag state-tag ${c.state}`}, STATE_LABEL[c.state] || c.state)),
      c.note ? h('p', null, c.note) : null,
      buttons.length ? h('details', {class: 'steps'}, h('summary', null, 'Update'),
        h('div', {class: 'step-row'}, note, ...buttons)) : null, err);
  }

  function goalItem(g) {
    const pct = g.percent === null || g.percent === undefined ? null : Number(g.percent);
    const barId = `goal-${g.id}-bar`;
    const err = errorSlot(null);
    const parts = [
      h('div', {class: 'card-head'}, h('h3', {id: `${barId}-label`}, g.title),
        g.completed ? h('span', {class: 'tag verified'}, 'Completed') : null),
      g.description ? h('p', null, g.description) : null,
      h('div', {class: 'progress-row'},
        h('progress', {max: 100, value: g.completed ? 100 : (pct || 0), id: barId,
          'aria-labelledby': `${barId}-label`}),
        h('span', {class: 'pct'}, g.completed ? '100%' : pct === null ? 'Not started' : `${pct}%`)),
    ];
    if (g.notes && g.notes.length) {
      parts.push(h('ul', {class: 'goal-notes'}, g.notes.map((n) => h('li', null, n))));
    }
    if (!g.completed) {
      const text = h('input', {type: 'text', 'aria-label': `Progress note for "${g.title}"`,
        placeholder: 'How is it going?', class: 'inline-note'});
      const percent = h('input', {type: 'number', min: 0, max: 100, step: 5,
        value: pct === null ? '' : String(pct), 'aria-label': `Percent done for "${g.title}"`,
        class: 'pct-input'});
      const save = h('button', {type: 'submit', class: 'secondary small'}, 'Save progress');
      const complete = h('button', {type: 'button', class: 'ghost small'}, 'Mark complete');
      const form = h('form', {class: 'step-row'}, text, percent, h('span', {'aria-hidden': 'true'}, '%'),
        save, complete);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const p = percent.value === '' ? null : Math.max(0, Math.min(100, Number(percent.value)));
        busy(save, async () => {
          try {
            await post(cpath(id, `/goals/${encodeURIComponent(g.id)}`),
              {step: 'progress', text: text.value.trim(), percent: p});
            await load();
          } catch (e) {
            showIn(err, e.message);
          }
        });
      });
      complete.addEventListener('click', () => busy(complete, async () => {
        try {
          await post(cpath(id, `/goals/${encodeURIComponent(g.id)}`),
            {step: 'complete', text: text.value.trim(), percent: 100});
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      }));
      parts.push(form);
    }
    parts.push(err);
    return h('li', {class: 'card goal', dataset: {id: String(g.id)}}, ...parts);
  }

  function newConcernForm() {
    const title = field('What would you like to raise?', 'input', {id: 'concern-title', required: true});
    const note = field('More detail (optional)', 'textarea', {id: 'concern-note', rows: 2});
    const err = errorSlot('concern-error');
    const submit = h('button', {type: 'submit', class: 'primary', id: 'open-concern'}, 'Open concern');
    const form = h('form', {class: 'card add-form', id: 'concern-form', novalidate: true},
      title.wrap, note.wrap, err, submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!title.input.value.trim()) return showIn(err, 'Please give the concern a short title.');
      busy(submit, async () => {
        try {
          await post(cpath(id, '/concerns'), {title: title.input.value.trim(), note: note.input.value.trim()});
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      });
    });
    return h('details', {class: 'add'}, h('summary', null, 'Raise a concern'), form);
  }

  function newGoalForm() {
    const title = field('Goal', 'input', {id: 'goal-title', required: true});
    const desc = field('Description (optional)', 'textarea', {id: 'goal-description', rows: 2});
    const err = errorSlot('goal-error');
    const submit = h('button', {type: 'submit', class: 'primary', id: 'add-goal'}, 'Add goal');
    const form = h('form', {class: 'card add-form', id: 'goal-form', novalidate: true},
      title.wrap, desc.wrap, err, submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!title.input.value.trim()) return showIn(err, 'Please give the goal a short title.');
      busy(submit, async () => {
        try {
          await post(cpath(id, '/goals'), {title: title.input.value.trim(), description: desc.input.value.trim()});
          await load();
        } catch (e) {
          showIn(err, e.message);
        }
      });
    });
    return h('details', {class: 'add'}, h('summary', null, 'Add a goal'), form);
  }

  load();
  return {
    async refresh(name, ev) {
      if (name === 'care' && String(ev.contact_id) === String(id)) {
        // Never throw away what the person is typing: a form with text in it waits; its own
        // submit reloads the page.
        if (section.contains(document.activeElement) && document.activeElement.matches('input, textarea')) return;
        const typing = [...section.querySelectorAll('input[type=text], input:not([type]), textarea')]
          .some((el) => el.value.trim() !== '');
        if (typing) return;
        await load();
      }
    },
    destroy() {
      destroyed = true;
    },
  };
}
