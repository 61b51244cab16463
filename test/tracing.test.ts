/**
 * OpenTelemetry, with the SDK's in-memory exporter: a job added inside a
 * span records that trace, and running it exports a span in the same trace
 * (a child of the adding span) with its task, queue, attempt and outcome,
 * whichever way it was claimed (handed off, claimed, gated claim). Without
 * an active span, nothing is recorded and the job's span starts a trace.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Queue, Supervisor } from '../src/index.js';
import { embedded, type Embedded } from './helpers/embedded.js';
import { waitFor, type TestDb } from './helpers/db.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let running: Embedded;
let db: TestDb;
let queue: Queue;
let supervisor: Supervisor;

before(async () => {
  provider.register(); // the tracer, the AsyncLocalStorage context and the W3C propagator, as an application's SDK set-up does
  running = await embedded('tracing');
  ({ db, queue, supervisor } = running);
});
after(async () => {
  await running.close();
  await provider.shutdown();
});

/** The exported span of job `id`, once its outcome is written. */
function jobSpan(id: string) {
  return waitFor(`the span of job ${id}`, () => exporter.getFinishedSpans().find((span) => span.attributes['messaging.message.id'] === id));
}

it('runs a job in the trace that added it, however it was claimed, with its task, queue, attempt and outcome', async () => {
  await waitFor('the idle supervisor offering a slot (so that the first job is handed off)', async () => (await db.query('select 1 from offers')).length === 1);
  const tracer = trace.getTracer('the-application');
  const { checkout, jobs } = await tracer.startActiveSpan('checkout', async (span) => {
    const handedOff = await queue.add('returns', { value: 1 });
    const [claimed, keyed] = await queue.addMany([
      { task: 'fail', maxAttempts: 1 },
      { task: 'returns', payload: { value: 2 }, concurrencyKey: 'customer:7' },
    ]);
    span.end();
    return { checkout: span.spanContext(), jobs: [handedOff, claimed!, keyed!] };
  });
  const stored = await db.query<{ trace_context: { traceparent: string } }>('select trace_context from jobs where job_id = $1', [jobs[0]!.id]);
  assert.match(stored[0]!.trace_context.traceparent, new RegExp(`^00-${checkout.traceId}-${checkout.spanId}-01$`));

  const [handedOff, failed, keyed] = await Promise.all(jobs.map((job) => jobSpan(job.id)));
  for (const span of [handedOff!, failed!, keyed!]) {
    assert.equal(span.spanContext().traceId, checkout.traceId, `${span.name}: in the checkout's trace`);
    assert.equal(span.parentSpanContext?.spanId, checkout.spanId, `${span.name}: a child of the checkout span`);
    assert.equal(span.kind, SpanKind.CONSUMER);
  }
  assert.equal(handedOff!.name, 'returns process');
  assert.deepEqual(
    { ...handedOff!.attributes },
    {
      'messaging.system': 'pg-supervisor',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'default',
      'messaging.message.id': jobs[0]!.id,
      'pg_supervisor.task': 'returns',
      'pg_supervisor.attempt': 1,
      'pg_supervisor.outcome': 'success',
    },
  );
  assert.equal(failed!.attributes['pg_supervisor.outcome'], 'failed');
  assert.equal(failed!.status.code, SpanStatusCode.ERROR);
  assert.match(failed!.status.message!, /failing on purpose/);
  assert.ok(supervisor.stats.handedOff >= 1, 'one job was handed off');
});

it('records nothing for a job added outside any span; its span starts a trace of its own', async () => {
  const { id } = await queue.add('noop');
  assert.equal((await db.job(id)).trace_context, null);
  const span = await jobSpan(id);
  assert.equal(span!.parentSpanContext, undefined);
  assert.equal(span!.attributes['pg_supervisor.outcome'], 'success');
});
