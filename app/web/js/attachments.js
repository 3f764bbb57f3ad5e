// Files in a conversation. Before sending: the files a person chose, shown as removable chips
// with name and size, and for images a small preview drawn here with a canvas (it travels with
// the message, so the other side sees it before saving the file). In the thread: a card per file
// with name, size, the preview for images, and a Save link that downloads through the app.

import {h, svg, showIn} from './dom.js';
import {downloadFile} from './export.js';

/** At most this many files per message (wire::kMaxAttachmentsPerMessage). */
export const MAX_FILES = 8;
/** The app's bound on one upload (app/api.h kMaxUploadBody, less room for the text). */
const MAX_TOTAL_BYTES = 8 * 50 * 1024 * 1024;
/** Previews: longest side, and the most the library accepts (wire::kMaxThumbnailSize). */
const THUMB_SIDE = 160;
const THUMB_MAX_BYTES = 24 * 1024;
/** Images larger than this get no preview: decoding them would take a lot of memory. */
const THUMB_SOURCE_MAX_BYTES = 40 * 1000 * 1000;

const TOO_MANY = `You can send up to ${MAX_FILES} files with one message`;
const TOO_LARGE = 'These files are too large to send together; please send fewer or smaller ones.';
const FOLDER = "Folders can't be attached; please choose the files inside instead.";

/** "950 B", "12 KB", "3.4 MB", "120 MB", "1.2 GB", as the app's size_text (FormatFileSize). */
export function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${Math.floor((n + 500) / 1000)} KB`;
  if (n < 1e7) return `${(n / 1e6).toFixed(1)} MB`;
  if (n < 1e9) return `${Math.floor((n + 500000) / 1e6)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

function blobToDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
}

function canvasBlob(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
}

/**
 * A JPEG preview of an image file, longest side at most 160 px and at most 24 KiB: smaller and
 * plainer until it fits. Resolves to {blob, url} (url: a data: URL for the chip), or null when
 * the browser cannot decode the image or no preview fits.
 */
export async function makeThumbnail(file) {
  if (!/^image\//.test(file.type) || file.size > THUMB_SOURCE_MAX_BYTES ||
      typeof createImageBitmap !== 'function') {
    return null;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;  // HEIC, a damaged file, an SVG: no preview, the file still goes
  }
  try {
    const longest = Math.max(bitmap.width, bitmap.height);
    for (const side of [THUMB_SIDE, 120, 96, 64]) {
      const scale = Math.min(1, side / longest);
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#ffffff';  // JPEG has no transparency: white, not black, behind it
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      for (const quality of [0.7, 0.55, 0.4]) {
        const blob = await canvasBlob(canvas, quality);
        if (blob && blob.size <= THUMB_MAX_BYTES) return {blob, url: await blobToDataUrl(blob)};
      }
    }
    return null;
  } catch {
    return null;
  } finally {
    bitmap.close();
  }
}

function fileGlyph(cls) {
  return svg('svg', {class: cls, viewBox: '0 0 24 24', width: 24, height: 24, 'aria-hidden': 'true',
    focusable: 'false'},
  svg('path', {d: 'M6.5 2.75h7.25l4.75 4.75v13.75h-12z', fill: 'none', stroke: 'currentColor',
    'stroke-width': 1.6, 'stroke-linejoin': 'round'}),
  svg('path', {d: 'M13.5 2.75v5h5', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6,
    'stroke-linejoin': 'round'}));
}

/** The paper-clip of the attach button. */
export function clipGlyph() {
  return svg('svg', {class: 'clip', viewBox: '0 0 24 24', width: 20, height: 20,
    'aria-hidden': 'true', focusable: 'false'},
  svg('path', {d: 'M15.5 7.5l-6.6 6.6a1.6 1.6 0 0 0 2.3 2.3l7-7a3.4 3.4 0 0 0-4.8-4.8l-7.2 7.2' +
    'a5.2 5.2 0 0 0 7.4 7.4l5.9-5.9', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8,
  'stroke-linecap': 'round', 'stroke-linejoin': 'round'}));
}

/**
 * The composer's chosen files. `list` is the <ul> of chips; `onError(sentence)` shows a problem
 * (too many files, a folder); `onChange()` runs after every change.
 */
export class ChosenFiles {
  constructor({onError, onChange}) {
    this.items = [];  // {file, thumb: Promise<{blob,url}|null>, key}
    this.onError = onError;
    this.onChange = onChange;
    this.seq = 0;
    this.list = h('ul', {class: 'chips', id: 'attachment-chips', 'aria-label': 'Files to send'});
    this.list.hidden = true;
  }

  get count() {
    return this.items.length;
  }

  /** Adds files (a FileList or array); `folders` is how many dropped items were folders. */
  add(files, folders = 0) {
    const incoming = [...files];
    const room = MAX_FILES - this.items.length;
    let problem = folders ? FOLDER : '';
    if (incoming.length > room) {
      const left = incoming.length - Math.max(0, room);
      problem = `${TOO_MANY}, so ${left === 1 ? 'one file was' : `${left} files were`} left out.`;
    }
    const total = this.items.reduce((n, it) => n + it.file.size, 0);
    let added = total;
    for (const file of incoming.slice(0, Math.max(0, room))) {
      if (added + file.size > MAX_TOTAL_BYTES) {
        problem = TOO_LARGE;
        continue;
      }
      added += file.size;
      this.seq += 1;
      const item = {file, key: this.seq, thumb: makeThumbnail(file)};
      this.items.push(item);
      item.thumb.then((t) => {
        if (t && this.items.includes(item)) this.render();
      });
    }
    this.onError(problem);
    this.render();
  }

  remove(key) {
    const i = this.items.findIndex((it) => it.key === key);
    if (i < 0) return;
    this.items.splice(i, 1);
    this.onError('');
    this.render();
    // Focus stays in the list: the next chip's button, else the previous, else the caller's.
    const buttons = this.list.querySelectorAll('.chip-remove');
    const next = buttons[Math.min(i, buttons.length - 1)];
    if (next) next.focus();
    return !next;
  }

  clear() {
    this.items = [];
    this.render();
  }

  /** While a send is on its way, the chosen files cannot be changed. */
  setBusy(busy) {
    this.list.inert = busy;
  }

  /** Appends the files (and their previews, as thumbnail_i) to `form`. */
  async appendTo(form) {
    const thumbs = await Promise.all(this.items.map((it) => it.thumb));
    this.items.forEach((it, i) => {
      form.append('file', it.file, it.file.name);
      if (thumbs[i]) form.append(`thumbnail_${i}`, thumbs[i].blob, 'preview.jpg');
    });
  }

  render() {
    this.list.replaceChildren();
    for (const it of this.items) {
      const preview = h('span', {class: 'chip-icon'}, fileGlyph('glyph'));
      it.thumb.then((t) => {
        if (t) preview.replaceChildren(h('img', {src: t.url, alt: '', class: 'chip-thumb'}));
      });
      this.list.append(h('li', {class: 'chip'}, preview,
        h('span', {class: 'chip-text'},
          h('span', {class: 'chip-name', title: it.file.name}, it.file.name),
          h('span', {class: 'chip-size'}, fileSize(it.file.size))),
        h('button', {type: 'button', class: 'chip-remove', 'aria-label': `Remove ${it.file.name}`,
          onclick: () => {
            if (this.remove(it.key)) this.onChange('emptied');
          }}, '×')));
    }
    this.list.hidden = !this.items.length;
    this.onChange('changed');
  }
}

/** The folders among dropped items (they cannot be read as files). */
export function countFolders(dataTransfer) {
  let n = 0;
  for (const item of dataTransfer.items || []) {
    const entry = item.kind === 'file' && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry && entry.isDirectory) n += 1;
  }
  return n;
}

/** Files of a dropped DataTransfer, folders left out. */
export function droppedFiles(dataTransfer) {
  const out = [];
  const items = [...(dataTransfer.items || [])];
  if (!items.length) return [...(dataTransfer.files || [])];
  for (const item of items) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry && entry.isDirectory) continue;
    const f = item.getAsFile();
    if (f) out.push(f);
  }
  return out;
}

/** The cards of a message's files: preview (images), name, size and a Save link. */
export function fileCards(messageId, attachments) {
  return h('ul', {class: 'files', 'aria-label': attachments.length === 1 ? 'File' : 'Files'},
    attachments.map((a) => fileCard(messageId, a)));
}

function fileCard(messageId, a) {
  const name = a.file_name || 'File';
  const path = `/api/attachments/${encodeURIComponent(messageId)}/${Number(a.index)}`;
  const error = h('p', {class: 'error file-error', role: 'alert', hidden: true});
  const save = h('a', {href: path, class: 'file-save', download: name,
    'aria-label': `Save ${name}`}, 'Save');
  save.addEventListener('click', async (ev) => {
    ev.preventDefault();
    if (save.getAttribute('aria-disabled') === 'true') return;
    save.setAttribute('aria-disabled', 'true');
    save.textContent = 'Saving…';
    showIn(error, '');
    try {
      await downloadFile(path, name);
    } catch (e) {
      showIn(error, e.message);
    } finally {
      save.removeAttribute('aria-disabled');
      save.textContent = 'Save';
    }
  });
  const preview = a.thumbnail
    ? h('img', {src: a.thumbnail, class: 'file-preview', alt: `Preview of ${name}`})
    : null;
  return h('li', {class: `file-card${preview ? ' has-preview' : ''}`,
    dataset: {index: String(a.index)}},
  preview,
  h('div', {class: 'file-row'},
    preview ? null : fileGlyph('glyph file-glyph'),
    h('span', {class: 'file-text'},
      h('span', {class: 'file-name'}, name),
      h('span', {class: 'file-size'}, a.size_text || fileSize(a.size))),
    save),
  error);
}
