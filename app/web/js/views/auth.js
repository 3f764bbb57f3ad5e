// The screens before the conversations: the launch sentence, first run (profile, then
// registration) and unlock.

import {h, field, errorSlot, showIn, busy} from '../dom.js';
import {post} from '../api.js';
import {qrSvg} from '../qr.js';
import {app} from '../state.js';

function card(title, intro, ...body) {
  return h('main', {class: 'auth-card', id: 'main'},
    h('div', {class: 'auth-brand'}, h('img', {src: '/icon.svg', alt: '', width: 40, height: 40}),
      h('span', null, 'Alliance')),
    h('h1', null, title),
    intro ? h('p', {class: 'lead'}, intro) : null,
    ...body);
}

export function renderLaunchNeeded(root, sentence) {
  root.append(card('Alliance', null, h('p', {class: 'lead', id: 'launch-needed'}, sentence)));
}

/** A rough, friendly estimate; the app process enforces the minimum of 8 characters. */
export function strength(pass) {
  if (!pass) return {score: 0, text: 'A few unrelated words make a passphrase that is strong and easy to remember.'};
  if (pass.length < 8) return {score: 0, text: 'Too short — use at least 8 characters.'};
  let classes = 0;
  for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/]) if (re.test(pass)) classes += 1;
  const words = pass.trim().split(/[\s\-_.]+/).filter((w) => w.length >= 3).length;
  let bits = pass.length * (classes >= 3 ? 5 : 4);
  if (words >= 4) bits += 20;
  if (/^(.)\1+$/.test(pass) || /^(password|passphrase|12345678)/i.test(pass)) bits = 10;
  if (bits < 50) return {score: 1, text: 'Weak — add a few more words.'};
  if (bits < 80) return {score: 2, text: 'Fair — one or two more words would make it strong.'};
  return {score: 3, text: 'Strong.'};
}

export function renderCreateProfile(root, done) {
  const p1 = field('Passphrase', 'input', {id: 'new-passphrase', type: 'password',
    autocomplete: 'new-password', required: true, minLength: 8});
  const meter = h('meter', {min: 0, max: 3, low: 1.5, high: 2.5, optimum: 3, value: 0,
    id: 'strength-meter', 'aria-label': 'Passphrase strength'});
  const hint = h('p', {class: 'hint', id: 'strength', 'aria-live': 'polite'}, strength('').text);
  p1.input.setAttribute('aria-describedby', 'strength');
  const p2 = field('The same passphrase again', 'input', {id: 'new-passphrase2', type: 'password',
    autocomplete: 'new-password', required: true});
  const err = errorSlot('profile-error');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'create-profile'}, 'Create my profile');
  p1.input.addEventListener('input', () => {
    const s = strength(p1.input.value);
    meter.value = s.score;
    hint.textContent = s.text;
  });
  const form = h('form', {id: 'profile-form', novalidate: true}, p1.wrap, meter, hint, p2.wrap,
    err, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const a = p1.input.value;
    if (a.length < 8) return showIn(err, 'Please use at least 8 characters.');
    if (a !== p2.input.value) return showIn(err, "The two passphrases don't match yet.");
    showIn(err, '');
    busy(submit, async () => {
      try {
        await post('/api/profile', {passphrase: a});
        p1.input.value = '';
        p2.input.value = '';
        await done();
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });
  root.append(card('Welcome to Alliance',
    'First, choose a passphrase. It protects your messages on this computer, and only you know it — nobody at the clinic can reset it.',
    form));
  p1.input.focus();
}

export function renderRegister(root, done) {
  const invite = field('Invite code', 'input', {id: 'invite', autocomplete: 'off', required: true,
    spellcheck: false}, 'The code your clinic or therapist gave you.');
  const relay = field("Clinic's server address", 'input', {id: 'relay', autocomplete: 'off',
    required: true, spellcheck: false, placeholder: 'clinic.example.org:443'},
  'Also from your clinic, for example clinic.example.org:443.');
  const ca = field("Clinic's certificate file (if they gave you one)", 'input',
    {id: 'ca-file', type: 'file', accept: '.pem,.crt,.cer,text/plain'});
  const name = field('Your name, as your contacts will see it', 'input', {id: 'name',
    autocomplete: 'nickname', required: true},
  'A first name is enough. Only the people you write with see it.');
  const err = errorSlot('register-error');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'register'}, 'Join');
  const form = h('form', {id: 'register-form', novalidate: true}, invite.wrap, relay.wrap,
    ca.wrap, name.wrap, err, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = {invite: invite.input.value.trim(), relay: relay.input.value.trim(),
      ca_pem: '', name: name.input.value.trim()};
    if (!data.invite) return showIn(err, 'Please enter the invite code.');
    if (!data.relay) return showIn(err, "Please enter the clinic's server address.");
    if (!data.name) return showIn(err, 'Please enter the name your contacts will see.');
    showIn(err, '');
    busy(submit, async () => {
      try {
        const file = ca.input.files && ca.input.files[0];
        if (file) data.ca_pem = await file.text();
        const st = await post('/api/register', data);
        if (st && st.registered !== undefined) app.state = st;
        await done();
      } catch (e) {
        showIn(err, e.message);
      }
    });
  });
  const other = h('button', {type: 'button', class: 'link-button', id: 'link-instead'},
    'I already use Alliance on another device');
  other.addEventListener('click', () => {
    root.replaceChildren();
    renderLink(root, done, () => {
      root.replaceChildren();
      renderRegister(root, done);
    });
  });
  root.append(card('Join your clinic', 'Enter the details your clinic gave you.', form,
    h('p', {class: 'alt-path'}, other)));
  invite.input.focus();
}

/** First run on a second device: show a code to approve on the device already in use. */
export function renderLink(root, done, back) {
  const relay = field("Clinic's server address", 'input', {id: 'link-relay', autocomplete: 'off',
    required: true, spellcheck: false, placeholder: 'clinic.example.org:443'},
  'The same address your other device uses (Settings shows it there).');
  const ca = field("Clinic's certificate file (if they gave you one)", 'input',
    {id: 'link-ca-file', type: 'file', accept: '.pem,.crt,.cer,text/plain'});
  const err = errorSlot('link-error');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'link-start'}, 'Show my code');
  const cancel = h('button', {type: 'button', class: 'link-button', id: 'link-back'},
    'I have an invite code instead');
  cancel.addEventListener('click', back);
  const result = h('div', {id: 'link-code-area', 'aria-live': 'polite'});
  const form = h('form', {id: 'link-form', novalidate: true}, relay.wrap, ca.wrap, err, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = {relay: relay.input.value.trim(), ca_pem: ''};
    if (!data.relay) return showIn(err, "Please enter the clinic's server address.");
    showIn(err, '');
    busy(submit, async () => {
      try {
        const file = ca.input.files && ca.input.files[0];
        if (file) data.ca_pem = await file.text();
        const code = await post('/api/link/start', data);
        form.hidden = true;
        result.replaceChildren(
          h('p', null, 'On the device you already use, open Settings, choose "Link a new device" and type this code (or run ',
            h('code', null, 'alliance devices approve'), ' with it):'),
          h('p', {class: 'link-code', id: 'link-code'}, code.code),
          code.qr && code.qr.size ? h('figure', {class: 'qr-figure'}, qrSvg(code.qr, 'QR code of the link code')) : null,
          h('p', {class: 'hint', id: 'link-waiting'},
            `Waiting for the other device… The code works once, until ${code.expires_text}.`));
        for (;;) {
          const st = await post('/api/link/finish', {});
          if (st && st.linked) {
            app.state = st;
            await done();
            return;
          }
        }
      } catch (e) {
        form.hidden = false;
        result.replaceChildren();
        showIn(err, e.message);
      }
    });
  });
  root.append(card('Link this device',
    'Use your account here too. Your contacts and agreements come along; earlier messages stay on your other device.',
    form, result, h('p', {class: 'alt-path'}, cancel)));
  relay.input.focus();
}

export function renderUnlock(root, done) {
  const pass = field('Passphrase', 'input', {id: 'passphrase', type: 'password',
    autocomplete: 'current-password', required: true});
  const err = errorSlot('unlock-error');
  const submit = h('button', {type: 'submit', class: 'primary', id: 'unlock'}, 'Unlock');
  const form = h('form', {id: 'unlock-form', novalidate: true}, pass.wrap, err, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!pass.input.value) return showIn(err, 'Please enter your passphrase.');
    busy(submit, async () => {
      try {
        const st = await post('/api/unlock', {passphrase: pass.input.value});
        pass.input.value = '';
        if (st && st.unlocked !== undefined) app.state = st;
        await done();
      } catch (e) {
        pass.input.value = '';
        showIn(err, e.message);
        pass.input.focus();
      }
    });
  });
  root.append(card('Alliance is locked', 'Enter your passphrase to open your messages.', form));
  pass.input.focus();
}
