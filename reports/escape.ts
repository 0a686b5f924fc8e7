// XML 1.0 forbids most C0 control characters even when escaped; drop them.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escape text for XML/HTML element content and attribute values. */
export function escapeXml(v: unknown): string {
  return String(v)
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export const escapeHtml = (v: unknown) => escapeXml(v).replace(/&apos;/g, '&#39;');

/** `1234` → `1.23 s`, `42` → `42 ms`, null → `–`. */
export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${Math.round(v)} ms`;
}
