/**
 * The trace context of the code adding a job, as the application's
 * OpenTelemetry propagator writes it (W3C `traceparent`, `tracestate`), so
 * the job's span joins that trace. Through `@opentelemetry/api` only: with
 * no SDK registered, or no active span, there is nothing to record.
 */
import { context, propagation, trace } from '@opentelemetry/api';

/** The active trace context as JSON text for jobs.trace_context, or null when there is none. */
export function activeTraceContext(): string | null {
  const active = context.active();
  if (!trace.getSpanContext(active)) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : null;
}
