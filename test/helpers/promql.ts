/**
 * Just enough PromQL reading for the monitoring tests: the metric names an expression selects, and the
 * metric families a /metrics page exports. Not a parser: it removes what cannot be a metric name
 * (strings, label matchers, ranges, grouping clauses, offsets, numbers, function and keyword names) and
 * keeps the identifiers left.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'inf', 'nan', 'atan2']);

/** Metric names selected by a PromQL expression (Grafana's `$var` and `$__rate_interval` allowed), sorted, unique. */
export function metricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals (label values, regexes)
    .replace(/\{[^{}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping label lists
    .replace(/\boffset\s+-?[\w$]+/g, ' ')
    .replace(/@\s*[\w.()$]+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' '); // dashboard variables outside matchers
  s = s.replace(/(?<![\w.:])\d[\w.]*(?:[eE][+-]?\d+)?/g, ' '); // numbers (and durations)
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function or an aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** The metric families a Prometheus text exposition declares (`# TYPE name type`), with their types. */
export function exportedFamilies(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1]!, m[2]!);
  return families;
}

/** The family a sample name belongs to: itself, or a histogram's/summary's `_bucket`, `_sum`, `_count`. */
export function familyOf(name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && (families.get(m[1]!) === 'histogram' || (families.get(m[1]!) === 'summary' && m[2] !== 'bucket'))) return m[1];
  return undefined;
}

/** Names of the samples on a /metrics page that have at least one series. */
export function sampleNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!));
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of every heading of a Markdown document, outside code fences. */
export function markdownAnchors(markdown: string): string[] {
  const anchors: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced) {
      const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (m) anchors.push(headingAnchor(m[1]!));
    }
  }
  return anchors;
}
