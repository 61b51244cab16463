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

/** A time for a table: UTC to the second (`2026-12-02 05:00:00Z`); empty when there is none. */
export function formatTime(date: Date | null | undefined): string {
  return date ? date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

/** A duration for people: `850 ms`, `12.3 s`, `4m 05s`, `2h 07m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** How long a job's current or last attempt ran: to its finish, or to now while it runs. */
export function attemptDuration(job: { started_at: Date | null; finished_at: Date | null; job_status: string }): string {
  if (!job.started_at) return '';
  if (job.finished_at) return formatDuration(job.finished_at.getTime() - job.started_at.getTime());
  return job.job_status === 'running' ? `${formatDuration(Date.now() - job.started_at.getTime())} so far` : '';
}
