// Search highlights as the API sends them: HTML-escaped text in which only
// <mark> and </mark> were added around matched words. They are never
// handed to innerHTML: marked() splits on exactly those two tags, decodes
// the character references in the text between them, and builds text
// nodes and <mark> elements. Anything else that looks like markup stays
// text, so even a server bug could not run a script here.

import { h } from './dom.js';

const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** decode turns the character references html.EscapeString makes (and
 * numeric ones generally) back into characters; an unknown one stays as
 * written. */
export function decode(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref) => {
    if (ref[0] !== '#') return named[ref] ?? whole;
    const n = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : whole;
  });
}

/** marked renders one highlight as nodes: text, and <mark> for what the
 * query matched. An unbalanced tag is shown as text. */
export function marked(highlight) {
  const out = [];
  let open = false;
  let buf = '';
  const flush = () => {
    if (buf) out.push(open ? h('mark', {}, decode(buf)) : decode(buf));
    buf = '';
  };
  for (const part of highlight.split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>' && !open) { flush(); open = true; continue; }
    if (part === '</mark>' && open) { flush(); open = false; continue; }
    buf += part;
  }
  flush();
  return out;
}
