/**
 * OpenTelemetry spans for the jobs a supervisor runs, through
 * `@opentelemetry/api` only: the application registers the SDK (exporter,
 * sampler, propagator); without one every call here is a no-op. A job's span
 * starts when the job is handed to a thread and ends when its outcome is
 * written; it is a child of the trace the job was added in (the context
 * recorded by Queue.add), with the task, queue, attempt and outcome as
 * attributes. Only recording spans are kept, so an unsampled or untraced
 * job costs one no-op span.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Written } from './completer.js';
import type { ClaimedJob } from './claimed-job.js';
import type { Held, Holdings } from './holdings.js';

const tracer = trace.getTracer('pg-supervisor');

/** Starts and ends the spans of held jobs; a span lives on its job's Holdings entry, and goes with it. */
export class JobTracing {
  /** Held jobs were handed to a thread: a span each. */
  started(jobs: readonly ClaimedJob[], holdings: Holdings): void {
    for (const job of jobs) {
      const entry = holdings.of(job);
      if (!entry) continue;
      const parent = job.traceContext ? propagation.extract(context.active(), JSON.parse(job.traceContext) as Record<string, string>) : context.active();
      const span = tracer.startSpan(
        `${job.task} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'pg-supervisor',
            'messaging.operation.type': 'process',
            'messaging.destination.name': job.queue,
            'messaging.message.id': job.id,
            'pg_supervisor.task': job.task,
            'pg_supervisor.attempt': job.attempt,
          },
        },
        parent,
      );
      if (span.isRecording()) entry.span = span;
    }
  }

  /** A held job's outcome was written (or refused by the fence): its span ends with it. */
  ended(held: Held | undefined, written: Written, error: string | undefined): void {
    const span = held?.span;
    if (!span) return;
    span.setAttribute('pg_supervisor.outcome', written);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error.split('\n', 1)[0]! });
    span.end();
  }
}
