import { ConfigError } from '../../core/errors.ts';
import { SCENARIO_TAGS } from './vocabulary.ts';

export type TagPredicate = (tags: readonly string[]) => boolean;

function fail(expr: string, at: number, what: string): never {
  const issue = { path: 'tags', received: expr, expected: `${what} (at character ${at + 1})` };
  throw new ConfigError(`invalid tag expression "${expr}": ${what} at character ${at + 1}`, [issue], { source: '--tags' });
}

/**
 * Cucumber-style tag expressions over scenario tags: `@tick`, `@redis and not @realtime`,
 * `(@trade or @process) and not @realtime`. Unknown tags are an error, so a typo never
 * silently selects nothing.
 */
export function parseTagExpression(expr: string): TagPredicate {
  const tokens: { t: string; at: number }[] = [];
  const re = /\s*(\(|\)|[^\s()]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) {
    if (m[1] === undefined) break;
    tokens.push({ t: m[1], at: m.index + m[0].length - m[1].length });
  }
  if (tokens.length === 0) fail(expr, 0, 'empty expression');
  let i = 0;
  const peek = () => tokens[i];
  const orExpr = (): TagPredicate => {
    let left = andExpr();
    while (peek()?.t === 'or') {
      i++;
      const l = left;
      const r = andExpr();
      left = (tags) => l(tags) || r(tags);
    }
    return left;
  };
  const andExpr = (): TagPredicate => {
    let left = unary();
    while (peek()?.t === 'and') {
      i++;
      const l = left;
      const r = unary();
      left = (tags) => l(tags) && r(tags);
    }
    return left;
  };
  const unary = (): TagPredicate => {
    const tok = peek();
    if (!tok) fail(expr, expr.length, 'expression ends too early');
    if (tok.t === 'not') {
      i++;
      const inner = unary();
      return (tags) => !inner(tags);
    }
    if (tok.t === '(') {
      i++;
      const inner = orExpr();
      if (peek()?.t !== ')') fail(expr, peek()?.at ?? expr.length, 'expected ")"');
      i++;
      return inner;
    }
    if (!tok.t.startsWith('@')) fail(expr, tok.at, `expected a tag, "not" or "(", got "${tok.t}"`);
    if (!(SCENARIO_TAGS as readonly string[]).includes(tok.t)) fail(expr, tok.at, `unknown tag ${tok.t}; known tags: ${SCENARIO_TAGS.join(' ')}`);
    i++;
    return (tags) => tags.includes(tok.t);
  };
  const pred = orExpr();
  if (i < tokens.length) fail(expr, tokens[i]!.at, `unexpected "${tokens[i]!.t}"`);
  return pred;
}
