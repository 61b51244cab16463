/** Job ids given on the command line. */
import { UsageError } from './context.js';

export function parseIds(raw: unknown): string[] {
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => String(v).trim());
  const bad = values.filter((v) => !/^\d{1,19}$/.test(v));
  if (bad.length > 0) throw new UsageError(`job ids are whole numbers (got ${bad.map((v) => `'${v}'`).join(', ')})`);
  return values;
}
