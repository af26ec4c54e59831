// Small hand-made traces for the unit tests.
import type { JSpan, JTrace } from './types';

export function span(id: string, parent: string | null, start: number, duration: number, op = id, pid = 'p1', extra: Partial<JSpan> = {}): JSpan {
  return {
    traceID: 't1',
    spanID: id,
    operationName: op,
    references: parent ? [{ refType: 'CHILD_OF', traceID: 't1', spanID: parent }] : [],
    startTime: start,
    duration,
    tags: [],
    logs: [],
    processID: pid,
    ...extra,
  };
}

export function trace(spans: JSpan[]): JTrace {
  return {
    traceID: 't1',
    spans,
    processes: { p1: { serviceName: 'frontend', tags: [] }, p2: { serviceName: 'backend', tags: [] }, p3: { serviceName: 'db', tags: [] } },
  };
}
