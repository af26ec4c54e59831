// Jaeger UI JSON, as served by `GET /api/traces` and `GET /api/traces/{id}`.

export interface KeyValue {
  key: string;
  type?: string;
  value: unknown;
}

export interface JLog {
  timestamp: number;
  fields: KeyValue[];
}

export interface JReference {
  refType: string;
  traceID: string;
  spanID: string;
}

export interface JProcess {
  serviceName: string;
  tags?: KeyValue[] | null;
}

export interface JSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: JReference[] | null;
  startTime: number;
  duration: number;
  tags?: KeyValue[] | null;
  logs?: JLog[] | null;
  processID?: string;
  process?: JProcess;
  warnings?: string[] | null;
  flags?: number;
}

export interface JTrace {
  traceID: string;
  spans: JSpan[];
  processes?: Record<string, JProcess> | null;
  warnings?: string[] | null;
}

export interface JEnvelope<T> {
  data?: T | null;
  errors?: { code?: number; msg?: string }[] | null;
  total?: number;
  limit?: number;
  offset?: number;
}
