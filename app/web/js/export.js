// Downloads through the app: the conversation export and files that came with messages. The
// request carries the CSRF header, so a plain link cannot make it; the answer is saved through a
// short-lived blob URL, revoked soon after (nothing stays in the page).

import {h} from './dom.js';
import {request, cpath} from './api.js';

/** The name in a Content-Disposition header: filename*=UTF-8'' first, then filename="". */
function dispositionName(header) {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header || '');
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename="?([^";]+)"?/.exec(header || '');
  return plain ? plain[1] : '';
}

/** GETs `path` and saves the answer as a download named by the app (or `fallbackName`).
 * Throws an ApiError with one plain sentence when the app refuses. */
export async function downloadFile(path, fallbackName) {
  const res = await request('GET', path);
  const blob = await res.blob();
  const filename = dispositionName(res.headers.get('Content-Disposition')) || fallbackName;
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: filename, class: 'visually-hidden', tabindex: '-1'});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function downloadExport(contactId) {
  return downloadFile(cpath(contactId, '/export'), 'alliance-conversation.json');
}
