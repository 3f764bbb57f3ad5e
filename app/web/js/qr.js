// Draws a QR code as SVG from the rows of "0"/"1" the API returns (dark modules are "1").

import {svg} from './dom.js';

export function qrSvg(qr, label) {
  const rows = (qr && qr.rows) || [];
  const size = (qr && qr.size) || rows.length;
  const quiet = 4;
  const total = size + quiet * 2;
  let d = '';
  rows.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (row[x] === '1') {
        let run = 1;
        while (x + run < row.length && row[x + run] === '1') run += 1;
        d += `M${x + quiet} ${y + quiet}h${run}v1h-${run}z`;
        x += run;
      } else {
        x += 1;
      }
    }
  });
  const el = svg('svg', {viewBox: `0 0 ${total} ${total}`, class: 'qr', role: 'img',
    'aria-label': label, 'shape-rendering': 'crispEdges'},
  svg('rect', {width: total, height: total, fill: '#ffffff'}),
  svg('path', {d, fill: '#111111'}));
  return el;
}
