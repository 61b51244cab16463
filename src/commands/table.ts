/** Plain-text tables for the CLI's listings. */

/** Longest cell; longer text is cut with an ellipsis. */
const MAX_CELL = 60;

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and
 * bidirectional overrides: in a name or an error they could break a table,
 * recolour the terminal or set its title, so they are shown escaped.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** `text` with every unprintable character escaped (`\n`, `\e`, `\x07`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const code = char.charCodeAt(0);
    return NAMED[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** A table cell: printable, and at most `max` characters. */
export function cell(text: string, max = MAX_CELL): string {
  const shown = printable(text);
  return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}

/** Formats rows as left-aligned columns under a header; every cell goes through {@link cell}. */
export function formatTable(header: string[], rows: string[][]): string {
  const cells = rows.map((row) => row.map((text) => cell(text)));
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

/** The first line of a text (a stack trace's message). */
export function firstLine(text: string | null): string {
  return (text ?? '').split('\n')[0] ?? '';
}
