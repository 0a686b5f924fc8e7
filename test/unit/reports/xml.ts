/**
 * A small XML well-formedness check for tests (no dependency): balanced tags,
 * quoted attributes, only the five predefined entities or numeric references.
 * Returns the first problem, or null.
 */
export function xmlProblem(text: string): string | null {
  let s = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  while (s.length > 0) {
    const lt = s.indexOf('<');
    const textPart = lt < 0 ? s : s.slice(0, lt);
    const bad = badText(textPart);
    if (bad) return bad;
    if (lt < 0) break;
    if (stack.length === 0 && textPart.trim() !== '') return `text outside the root: ${textPart.slice(0, 30)}`;
    s = s.slice(lt);
    const gt = s.indexOf('>');
    if (gt < 0) return 'unterminated tag';
    const tag = s.slice(0, gt + 1);
    s = s.slice(gt + 1);
    const close = /^<\/([A-Za-z_][\w.-]*)\s*>$/.exec(tag);
    if (close) {
      if (stack.pop() !== close[1]) return `mismatched </${close[1]}>`;
      continue;
    }
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>$/.exec(tag);
    if (!open) return `malformed tag ${tag.slice(0, 60)}`;
    const attrBad = badText(open[2] ?? '');
    if (attrBad) return attrBad;
    if (stack.length === 0) roots++;
    if (open[3] !== '/') stack.push(open[1]!);
  }
  if (stack.length) return `unclosed <${stack[stack.length - 1]}>`;
  return roots === 1 ? null : `expected one root element, found ${roots}`;
}

function badText(t: string): string | null {
  const amp = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(t);
  if (amp) return `bare & in ${t.slice(Math.max(0, amp.index - 10), amp.index + 10)}`;
  if (t.includes('>') && !t.includes('=')) return null;
  return null;
}
