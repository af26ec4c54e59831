// The legacy Jaeger Java client for Spoor's end-to-end tests, configured
// only by the JAEGER_* environment (Configuration.fromEnv): it reports a
// root span and a child with tags and a log over UDP to the agent port,
// then closes the tracer (which flushes). With JAEGER_SAMPLER_TYPE=remote
// it first waits until the sampler has polled the strategies once.
import io.jaegertracing.Configuration;
import io.jaegertracing.internal.JaegerTracer;
import io.opentracing.Span;
import java.util.Map;

public final class JaegerClientDemo {
  private JaegerClientDemo() {}

  public static void main(String[] args) throws Exception {
    JaegerTracer tracer = Configuration.fromEnv().getTracer();
    if ("remote".equals(System.getenv("JAEGER_SAMPLER_TYPE"))) {
      // The remote sampler polls on start, then every minute by default.
      Thread.sleep(2000);
    }
    Span root = tracer.buildSpan("GET /jaeger-java").withTag("span.kind", "server")
        .withTag("http.method", "GET").withTag("http.status_code", 200).start();
    Span child = tracer.buildSpan("db.query").asChildOf(root).withTag("db.system", "postgresql").start();
    child.log(Map.of("event", "rows", "count", 3));
    child.finish();
    root.finish();
    System.out.println("trace " + root.context().toTraceId() + " sampled "
        + ((io.jaegertracing.internal.JaegerSpanContext) root.context()).isSampled());
    tracer.close();
  }
}
