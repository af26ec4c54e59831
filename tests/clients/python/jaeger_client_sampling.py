"""Python `jaeger-client` with its default remote-controlled sampler (no
`sampler.type` in the config): it polls `GET /sampling?service=<name>` on the
sampling port and obeys the answer.

Used by crates/spoor/tests/e2e_sampling.rs. Runs in the venv of
requirements-jaeger-client.txt.

Arguments: one or more service names. For each, a tracer is created, the
script waits until that tracer fetched a strategy successfully (its
`jaeger:sampler_queries{result=ok}` counter), then starts TRACES root spans
(each with one child) and closes the tracer.

Environment:
  AGENT_HOST      host of the UDP and sampling ports (default 127.0.0.1)
  AGENT_PORT      Thrift compact UDP port (6831)
  SAMPLING_PORT   sampling HTTP port (5778)
  TRACES          root spans per service (default 5)
  OPERATION       operation name of the root spans (default "GET /work")

Prints one JSON object per service on stdout:
  {"service", "sampler" (class of the sampler the client settled on), "rate"
   (its probability, -1 for a sampler without one), "queries" (successful
   strategy fetches), "traces": [{"id", "sampled"}]}
"""

import json
import os
import sys
import time

from jaeger_client import Config
from jaeger_client.metrics import MetricsFactory


class CountingMetrics(MetricsFactory):
    def __init__(self):
        super().__init__()
        self.counts = {}

    def create_counter(self, name, tags=None):
        key = name + "".join(f",{k}={v}" for k, v in sorted((tags or {}).items()))

        def increment(value):
            self.counts[key] = self.counts.get(key, 0) + value

        return increment

    def get(self, key):
        return self.counts.get(key, 0)


def fail(message):
    sys.stderr.write(f"jaeger_client_sampling.py: {message}\n")
    sys.exit(1)


def wait_for(predicate, what, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def run(service, host, port, sampling_port, traces, operation):
    metrics = CountingMetrics()
    config = Config(
        config={
            # No "sampler" section: the client builds a RemoteControlledSampler.
            "local_agent": {
                "reporting_host": host,
                "reporting_port": port,
                "sampling_port": sampling_port,
            },
            # Seconds; the first poll happens after a random delay below it.
            "sampling_refresh_interval": 1,
            "reporter_flush_interval": 0.1,
        },
        service_name=service,
        validate=True,
        metrics_factory=metrics,
    )
    tracer = config.new_tracer()
    wait_for(
        lambda: metrics.get("jaeger:sampler_queries,result=ok") >= 1,
        f"a successful sampling-strategy fetch for {service} "
        f"(client counters: {metrics.counts})",
        timeout=15,
    )
    if metrics.get("jaeger:sampler_updates,result=err"):
        fail(f"the client could not apply the strategy for {service}: {metrics.counts}")

    sent = []
    for i in range(traces):
        with tracer.start_span(operation) as root:
            root.set_tag("e2e.index", i)
            with tracer.start_span("step", child_of=root):
                pass
        sent.append({"id": format(root.context.trace_id, "016x"), "sampled": root.is_sampled()})

    future = tracer.close()
    wait_for(future.done, f"flushing the tracer of {service}", timeout=20)
    settled = tracer.sampler.sampler
    return {
        "service": service,
        "sampler": type(settled).__name__,
        "rate": float(getattr(settled, "rate", -1)),
        "queries": metrics.get("jaeger:sampler_queries,result=ok"),
        "traces": sent,
    }


def main():
    services = sys.argv[1:] or fail("give at least one service name")
    host = os.environ.get("AGENT_HOST", "127.0.0.1")
    port = int(os.environ.get("AGENT_PORT", "6831"))
    sampling_port = int(os.environ.get("SAMPLING_PORT", "5778"))
    traces = int(os.environ.get("TRACES", "5"))
    operation = os.environ.get("OPERATION", "GET /work")
    for service in services:
        result = run(service, host, port, sampling_port, traces, operation)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
