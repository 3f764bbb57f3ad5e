// One conversation: messages with time, delivery state, intent and urgent marks, and their files;
// the agreement visible next to the compose box; files to send (attach button, drag and drop);
// the on-device crisis check; the identity-change block.

import {h, clear, errorSlot, showIn} from '../dom.js';
import {get, post, request, cpath, QUEUED_SENTENCE} from '../api.js';
import {ChosenFiles, clipGlyph, countFolders, droppedFiles, fileCards} from '../attachments.js';
import {app, role} from '../state.js';
import {contactName, hoursLine, INTENTS, intentLabel, STATE_TEXT} from '../format.js';
import {downloadExport} from '../export.js';

export function threadView(main, id) {
  const me = role();
  let data = null;
  let intent = 'needs_reply';
  let urgent = false;
  let previewSeq = 0;
  let destroyed = false;

  const title = h('h1', {id: 'thread-title', class: 'thread-title'}, '');
  const titleTag = h('span', {class: 'title-tag'});
  const tools = h('nav', {class: 'thread-tools', 'aria-label': 'This conversation'});
  const head = h('header', {class: 'thread-head'},
    h('div', {class: 'thread-title-row'},
      h('a', {href: '#/', class: 'back', 'aria-label': 'Back to conversations'}, '←'),
      title, titleTag), tools);
  const banners = h('div', {class: 'thread-banners'});
  const messages = h('ol', {id: 'messages', class: 'messages', 'aria-label': 'Messages',
    tabindex: '0'});
  const careInfo = h('div', {class: 'care-info', id: 'care-info'});

  // ---- compose
  const intentButtons = INTENTS.map((i) => h('button', {type: 'button', class: 'intent',
    id: `intent-${i.key}`, 'aria-pressed': String(i.key === intent), dataset: {intent: i.key},
    onclick: () => setIntent(i.key)}, i.label));
  const intents = h('div', {class: 'intents', role: 'group', 'aria-label': 'What kind of message'},
    intentButtons);
  const urgentBtn = h('button', {type: 'button', id: 'urgent', class: 'toggle',
    'aria-pressed': 'false', onclick: () => setUrgent(!urgent)}, 'Urgent');
  const notice = h('div', {id: 'compose-notice', class: 'compose-notice', 'aria-live': 'polite'});
  const body = h('textarea', {id: 'compose-body', rows: 3, placeholder: 'Write a message',
    'aria-describedby': 'compose-notice'});
  const send = h('button', {type: 'submit', id: 'send', class: 'primary'}, 'Send');
  const status = h('p', {class: 'compose-status', id: 'compose-status', role: 'status'});
  const err = errorSlot('compose-error');
  // Files: a real button opens the browser's file picker (the input itself stays hidden).
  const fileInput = h('input', {type: 'file', id: 'attach-input', multiple: true, hidden: true,
    tabIndex: -1});
  const attachBtn = h('button', {type: 'button', id: 'attach', class: 'attach',
    onclick: () => fileInput.click()}, clipGlyph(), h('span', {class: 'attach-label'}, 'Attach a file'));
  const chosen = new ChosenFiles({
    onError: (sentence) => showIn(err, sentence),
    onChange: (what) => {
      if (what === 'emptied') attachBtn.focus();
    },
  });
  fileInput.addEventListener('change', () => {
    chosen.add(fileInput.files);
    fileInput.value = '';
  });
  const form = h('form', {id: 'compose-form', class: 'compose', 'aria-label': 'Write a message'},
    intents, notice,
    h('label', {for: 'compose-body', class: 'visually-hidden'}, 'Message'), body, chosen.list,
    h('div', {class: 'compose-row'}, h('div', {class: 'compose-options'}, attachBtn, urgentBtn),
      send), fileInput, err, status);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    doSend(false);
  });
  body.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      doSend(false);
    }
  });

  // ---- crisis dialog: gentle, two equal choices, nothing leaves the device
  const crisisNotice = h('p', {class: 'emergency', id: 'crisis-notice'});
  const anyway = h('button', {type: 'button', id: 'send-anyway', class: 'secondary'}, 'Send anyway');
  const dont = h('button', {type: 'button', id: 'dont-send', class: 'secondary'}, "Don't send");
  const crisis = h('dialog', {id: 'crisis-dialog', class: 'dialog',
    'aria-labelledby': 'crisis-title'},
  h('h2', {id: 'crisis-title'}, 'It sounds like things are hard right now.'),
  crisisNotice,
  h('p', {class: 'hint'}, 'Your message is still here. You can send it, or keep it for later.'),
  h('div', {class: 'dialog-buttons equal'}, anyway, dont));
  anyway.addEventListener('click', () => {
    crisis.close();
    doSend(true);
  });
  dont.addEventListener('click', () => {
    crisis.close();
    body.focus();
  });
  crisis.addEventListener('cancel', () => setTimeout(() => body.focus(), 0));

  const dropHint = h('div', {class: 'drop-hint', 'aria-hidden': 'true'},
    h('div', null, h('p', {class: 'drop-title'}, 'Drop files here to attach them'),
      h('p', {class: 'drop-sub'}, 'They are encrypted on this computer before they are sent.')));
  const section = h('section', {id: 'thread', class: 'thread', 'aria-labelledby': 'thread-title'},
    head, banners, messages, h('div', {class: 'compose-area'}, careInfo, form), crisis, dropHint);
  main.append(section);

  // ---- drag and drop onto the conversation
  let dragDepth = 0;
  const carriesFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
  const canAttach = () => !!data && !data.contact.identity_changed;
  function endDrag() {
    dragDepth = 0;
    section.classList.remove('dragging');
  }
  section.addEventListener('dragenter', (ev) => {
    if (!carriesFiles(ev) || !canAttach()) return;
    ev.preventDefault();
    dragDepth += 1;
    section.classList.add('dragging');
  });
  section.addEventListener('dragover', (ev) => {
    if (!carriesFiles(ev) || !canAttach()) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  section.addEventListener('dragleave', (ev) => {
    if (!carriesFiles(ev)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) section.classList.remove('dragging');
  });
  section.addEventListener('drop', (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    endDrag();
    if (!canAttach()) return;
    chosen.add(droppedFiles(ev.dataTransfer), countFolders(ev.dataTransfer));
  });
  // A file dropped anywhere else must not replace the app with the file.
  const swallow = (ev) => {
    if (carriesFiles(ev) && !section.contains(ev.target)) {
      ev.preventDefault();
      if (ev.type === 'drop') endDrag();
    }
  };
  document.addEventListener('dragover', swallow);
  document.addEventListener('drop', swallow);

  // ---------------------------------------------------------------- rendering

  function name() {
    return contactName(data && data.contact, me);
  }

  function renderHead() {
    const c = data.contact;
    title.textContent = name();
    clear(titleTag);
    if (c.verified && !c.identity_changed) titleTag.append(h('span', {class: 'tag verified'}, '✓ Verified'));
    clear(tools);
    const base = `#/c/${encodeURIComponent(id)}`;
    const links = [[`${base}/agreement`, 'Agreement'], [`${base}/care`, 'Concerns & goals']];
    if (me === 'therapist') links.push([`${base}/digest`, 'For our next session']);
    links.push([`${base}/safety`, 'Safety number']);
    tools.append(...links.map(([href, label]) => h('a', {href}, label)),
      h('button', {type: 'button', class: 'link', id: 'export', onclick: async () => {
        try {
          await downloadExport(id);
        } catch (e) {
          showIn(err, e.message);
        }
      }}, 'Download'));
  }

  function renderBanners() {
    clear(banners);
    const c = data.contact;
    const a = data.agreement;
    if (a && a.out_of_office) {
      const o = a.out_of_office;
      banners.append(h('div', {class: 'banner away', id: 'away-banner'},
        h('strong', null, o.until_text ? `${name()} is away until ${o.until_text}.` : `${name()} is away.`),
        o.notice ? h('p', null, o.notice) : null));
    }
    if (c.identity_changed) {
      banners.append(h('div', {class: 'banner identity', id: 'identity-banner', role: 'status'},
        h('p', null, `${name()}'s safety number has changed. Compare the new numbers with them in person or on a call before you write again.`),
        h('a', {href: `#/c/${encodeURIComponent(id)}/safety`, class: 'button secondary',
          id: 'compare-safety'}, 'Compare safety numbers')));
    }
    if (c.missing > 0) {
      // The ratchet's counters show messages sent before later ones that have not arrived: a
      // server holding one back cannot hide it.
      const what = c.missing === 1 ? 'A message' : `${c.missing} messages`;
      banners.append(h('div', {class: 'banner quiet', id: 'missing-banner', role: 'status'},
        h('p', null, `${what} from ${name()} sent before ${c.missing_before_text} ` +
          `${c.missing === 1 ? 'has' : 'have'} not arrived yet, although later ones did. ` +
          "If it doesn't come, please tell your clinic.")));
    }
    if (data.pending_agreement) {
      banners.append(h('div', {class: 'banner quiet', id: 'pending-banner'},
        me === 'client'
          ? h('p', null, `${name()} proposed a new care agreement. `,
            h('a', {href: `#/c/${encodeURIComponent(id)}/agreement`}, 'Read and accept it'))
          : h('p', null, 'Your proposed agreement is waiting for them to accept it. ',
            h('a', {href: `#/c/${encodeURIComponent(id)}/agreement`}, 'See it'))));
    }
  }

  function renderMessages() {
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    const first = !messages.dataset.rendered;
    clear(messages);
    if (!data.messages.length) {
      messages.append(h('li', {class: 'empty'}, me === 'client'
        ? `No messages yet. Write to ${name()} below.` : 'No messages yet.'));
    }
    for (const m of data.messages) messages.append(messageItem(m));
    messages.dataset.rendered = '1';
    if (first || atBottom) {
      messages.scrollTop = messages.scrollHeight;
      // Previews take their height once decoded: stay at the newest message.
      for (const img of messages.querySelectorAll('img')) {
        if (!img.complete) {
          img.addEventListener('load', () => {
            messages.scrollTop = messages.scrollHeight;
          }, {once: true});
        }
      }
    }
  }

  function messageItem(m) {
    if (m.direction === 'event') {
      // A line of the conversation, not a message ("Sam added a device on Tue 2 Dec").
      return h('li', {class: 'event-line', dataset: {id: String(m.id)}}, m.body);
    }
    const tags = h('div', {class: 'msg-tags'});
    if (m.intent) tags.append(h('span', {class: 'tag kind'}, intentLabel(m.intent)));
    if (m.urgent) tags.append(h('span', {class: 'tag urgent'}, 'Urgent'));
    if (m.unverified) {
      tags.append(h('span', {class: 'tag', title: 'Sent before the safety number was compared'},
        'Not verified'));
    }
    const files = Array.isArray(m.attachments) && m.attachments.length && !m.undecryptable
      ? fileCards(m.id, m.attachments) : null;
    const text = m.undecryptable
      ? h('p', {class: 'body muted'}, 'This message could not be opened on this device.')
      : (m.body || !files ? h('p', {class: 'body'}, m.body) : null);
    const meta = h('div', {class: 'msg-meta'},
      h('time', {datetime: new Date(Number(m.sent_at)).toISOString()}, m.time_text || ''),
      h('span', {class: 'state', dataset: {state: m.state}},
        m.direction === 'in' ? '' : (STATE_TEXT[m.state] || m.state)));
    const shownEmergency = me === 'client' ? emergencyText() : null;
    const notes = (m.notice || []).filter((n) => !shownEmergency || n.trim() !== shownEmergency.trim())
      .map((n) => n.charAt(0).toUpperCase() + n.slice(1));
    if (m.reply_due_text && !notes.length) {  // The notice already names the time.
      notes.push(`Reply expected by ${m.reply_due_text}.`);
    }
    const noticeList = notes.length && m.direction === 'out'
      ? h('ul', {class: 'msg-notice'}, notes.map((n) => h('li', null, n))) : null;
    return h('li', {class: `message ${m.direction === 'in' ? 'in' : 'out'}`,
      dataset: {id: String(m.id), state: m.state}},
    h('div', {class: `bubble${files ? ' with-files' : ''}`}, tags.childNodes.length ? tags : null,
      text, files), meta, noticeList);
  }

  function emergencyText() {
    const a = data && data.agreement;
    return (a && a.emergency_notice) || (data && data.compose && data.compose.emergency_notice) || null;
  }

  function renderCareInfo() {
    clear(careInfo);
    const a = data.agreement;
    const emergency = emergencyText();
    if (me === 'client') {
      if (a && a.hours && a.hours.length) {
        careInfo.append(h('p', {class: 'hours', id: 'hours'},
          h('strong', null, `${name()}'s hours: `), a.hours.map(hoursLine).join(' · '),
          a.time_zone ? ` (${a.time_zone})` : '',
          a.reply_within_hours ? `. Replies within ${a.reply_within_hours} working hours.` : '.'));
      } else {
        careInfo.append(h('p', {class: 'hours', id: 'hours'},
          'No care agreement yet — replies come when your therapist is available.'));
      }
    }
    if (emergency && me === 'client') {
      careInfo.append(h('p', {class: 'emergency', id: 'emergency-notice',
        'aria-label': 'Emergency notice'}, emergency));
    }
  }

  function renderNotice(preview) {
    clear(notice);
    const blocked = data && data.contact.identity_changed;
    if (blocked) {
      notice.append(h('p', null, 'Writing is paused until you compare safety numbers.'));
      return;
    }
    // The emergency notice has its own place beside the compose box; not repeated here.
    const shown = me === 'client' ? emergencyText() : null;
    const lines = ((preview && preview.lines) || []).filter((l) => !shown || l.trim() !== shown.trim());
    for (const l of lines) notice.append(h('p', null, l.charAt(0).toUpperCase() + l.slice(1)));
    if (!lines.length && me === 'client' && preview && preview.reply_due_text && intent === 'needs_reply') {
      notice.append(h('p', null, `Expect a reply by ${preview.reply_due_text}.`));
    }
    notice.hidden = !notice.childNodes.length;
  }

  function renderCompose() {
    const blocked = data.contact.identity_changed;
    body.disabled = blocked;
    send.disabled = blocked;
    attachBtn.disabled = blocked;
    urgentBtn.disabled = blocked;
    for (const b of intentButtons) b.disabled = blocked;
  }

  function setIntent(key) {
    intent = key;
    for (const b of intentButtons) b.setAttribute('aria-pressed', String(b.dataset.intent === key));
    refreshPreview();
  }
  function setUrgent(on) {
    urgent = on;
    urgentBtn.setAttribute('aria-pressed', String(on));
    refreshPreview();
  }

  async function refreshPreview() {
    const seq = ++previewSeq;
    try {
      const p = await get(cpath(id, `/preview?intent=${intent}&urgent=${urgent ? 1 : 0}`));
      if (seq === previewSeq && !destroyed) renderNotice(p);
    } catch (e) {
      if (seq === previewSeq) showIn(err, e.message);
    }
  }

  // ---------------------------------------------------------------- actions

  // Events often come in bursts (a message, then its delivery state): they are coalesced into
  // one fetch, and a response older than one already shown is dropped, so a state never goes
  // backwards on screen.
  let loadSeq = 0;
  let loadTimer = null;
  function scheduleLoad() {
    if (loadTimer) return;
    loadTimer = setTimeout(() => {
      loadTimer = null;
      load();
    }, 80);
  }

  async function load() {
    const seq = ++loadSeq;
    let fresh;
    try {
      fresh = await get(cpath(id, '/thread'));
    } catch (e) {
      if (destroyed) return;
      if (!data) {
        title.textContent = 'Conversation';
        showIn(err, e.message);
      }
      return;
    }
    if (destroyed || seq !== loadSeq) return;
    data = fresh;
    if (!Array.isArray(data.messages)) data.messages = [];
    renderHead();
    renderBanners();
    renderMessages();
    renderCareInfo();
    renderCompose();
    if (intent === 'needs_reply' && !urgent) renderNotice(data.compose);
    else refreshPreview();
    if (app.hooks.contactsChanged) app.hooks.contactsChanged();
  }

  let sending = false;
  async function sendRequest(text, acknowledged) {
    if (!chosen.count) {
      return post(cpath(id, '/send'), {body: text, intent, urgent,
        crisis_acknowledged: !!acknowledged});
    }
    const n = chosen.count;
    status.textContent = n === 1 ? 'Encrypting and sending your file…'
      : `Encrypting and sending your ${n} files…`;
    const form = new FormData();
    form.append('body', text);
    form.append('intent', intent);
    form.append('urgent', urgent ? '1' : '0');
    form.append('crisis_acknowledged', acknowledged ? '1' : '0');
    await chosen.appendTo(form);
    const res = await request('POST', cpath(id, '/send'), form);
    return res.json();
  }

  async function doSend(acknowledged) {
    const text = body.value;
    const empty = !text.trim() && !chosen.count;
    if (empty || sending) {
      if (empty) body.focus();
      return;
    }
    sending = true;
    send.disabled = true;
    attachBtn.disabled = true;
    chosen.setBusy(true);
    showIn(err, '');
    status.textContent = '';
    try {
      const res = await sendRequest(text, acknowledged);
      status.textContent = '';
      if (res.crisis_prompt) {
        crisisNotice.textContent = res.emergency_notice
          || (data && data.agreement && data.agreement.emergency_notice)
          || 'If you are in danger or need help right away, please call your local emergency number.';
        crisis.showModal();
        anyway.focus();
        return;
      }
      body.value = '';
      chosen.clear();
      if (urgent) setUrgent(false);
      if (res.queued) status.textContent = QUEUED_SENTENCE;
      if (res.message && data) {
        data.messages = data.messages.filter((m) => String(m.id) !== String(res.message.id));
        data.messages.push(res.message);
        renderMessages();
        messages.scrollTop = messages.scrollHeight;
      }
    } catch (e) {
      status.textContent = '';
      showIn(err, e.message);
      return;
    } finally {
      sending = false;
      chosen.setBusy(false);
      if (data && !data.contact.identity_changed) {
        send.disabled = false;
        attachBtn.disabled = false;
      }
    }
    scheduleLoad();
  }

  load().then(() => {
    if (!destroyed && data && !data.contact.identity_changed && window.matchMedia('(min-width: 900px)').matches) {
      body.focus();
    }
  });

  return {
    async refresh(name, ev) {
      if (ev && ev.contact_id !== undefined && String(ev.contact_id) !== String(id)) return;
      if (['message', 'delivery', 'identity', 'contact', 'agreement'].includes(name)) scheduleLoad();
    },
    destroy() {
      destroyed = true;
      if (crisis.open) crisis.close();
      chosen.clear();  // Locked means empty: no chosen file stays referenced by the page.
      document.removeEventListener('dragover', swallow);
      document.removeEventListener('drop', swallow);
    },
  };
}
