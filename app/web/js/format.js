// Formatting for people: names, times in the reader's own zone with the day name, hours.

const DAYS = {mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun'};
export const DAY_KEYS = Object.keys(DAYS);
export const DAY_NAMES = {mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday',
  fri: 'Friday', sat: 'Saturday', sun: 'Sunday'};

/** The name to show for a contact; never an empty string. */
export function contactName(contact, myRole) {
  if (contact && contact.name) return contact.name;
  if (!contact) return 'Your contact';
  if (contact.role === 'therapist') return myRole === 'client' ? 'Your therapist' : 'A therapist';
  if (contact.role === 'client') return `Client ${String(contact.id).slice(0, 6)}`;
  return 'Clinic admin';
}

export function roleLabel(role) {
  return {client: 'Client', therapist: 'Therapist', admin: 'Clinic admin'}[role] || role;
}

/** Unix ms → "Thu 10 Dec 10:00" in the reader's zone. */
export function when(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, {weekday: 'short', day: 'numeric', month: 'short',
    hour: '2-digit', minute: '2-digit'});
}

/** "mon 09:00-17:00" → "Mon 09:00–17:00". */
export function hoursLine(s) {
  const m = /^(\w{3})\s+(.*)$/.exec(String(s));
  if (!m) return String(s);
  return `${DAYS[m[1].toLowerCase()] || m[1]} ${m[2].replace('-', '–')}`;
}

export function windowLine(w) {
  return `${DAYS[w.day] || w.day} ${w.start}–${w.end}`;
}

export const INTENTS = [
  {key: 'needs_reply', label: 'Needs a reply'},
  {key: 'next_session', label: 'For our next session'},
  {key: 'fyi', label: 'Just so you know'},
];

export function intentLabel(key) {
  const i = INTENTS.find((x) => x.key === key);
  return i ? i.label : '';
}

export const STATE_TEXT = {
  queued: 'Queued — will be sent when the server is back',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  received: 'Received',
  failed: 'Failed to send',
};

/** <input type=datetime-local> value ↔ Unix ms, in the reader's zone. */
export function toLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? null : t;
}
