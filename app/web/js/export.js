// Export of a conversation as a file download (fetched with the CSRF header, saved via a blob URL).

import {h} from './dom.js';
import {request, cpath} from './api.js';

export async function downloadExport(contactId) {
  const res = await request('GET', cpath(contactId, '/export'));
  const blob = await res.blob();
  let filename = 'alliance-conversation.json';
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  if (m) filename = m[1];
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: filename, class: 'visually-hidden'});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
