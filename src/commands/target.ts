/** Which jobs `supervisor cancel` and `supervisor delete` act on: the ids given, or every job matching the filter flags. */
import { jobFilterOptions, resolveOptions } from '../config.js';
import type { JobFilter } from '../db/sql/job-filter.js';
import { UsageError } from './context.js';
import { parseIds } from './ids.js';

export function jobTarget(argv: Record<string, unknown>, command: string): string[] | JobFilter {
  const ids = parseIds(argv.ids);
  const given = resolveOptions(jobFilterOptions, argv);
  const filter = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as JobFilter;
  const filtered = Object.keys(filter).length > 0;
  if (ids.length > 0 && filtered) throw new UsageError(`give job ids or filters (--status, --queue, --task, --search), not both`);
  if (ids.length === 0 && !filtered) {
    const example = command === 'cancel' ? '--queue reports --status pending' : '--queue reports --status failed';
    throw new UsageError(`say which jobs to ${command}: give job ids (supervisor ${command} 12 13), or filters for every matching job (supervisor ${command} ${example})`);
  }
  return ids.length > 0 ? ids : filter;
}
