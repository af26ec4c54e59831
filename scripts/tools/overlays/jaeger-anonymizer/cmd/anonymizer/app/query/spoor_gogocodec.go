// Added by Spoor's scripts/tools/jaeger-anonymizer.sh to Jaeger's
// cmd/anonymizer at v1.75.0, in a copy of the module made for the build only
// (scripts/tools/go-module.sh; the module cache is never edited).
//
// The api_v2 messages are gogo-generated with custom field types
// (model.TraceID), which grpc-go's stock codec cannot marshal; at v1.75.0
// nothing the anonymizer links registers Jaeger's gogo codec, so every run
// panics before sending its request ("invalid Go type model.TraceID for
// field jaeger.api_v2.GetTraceRequest.trace_id"), against any server.
// Upstream fixed it after v1.75.0 (jaegertracing/jaeger issue 9539, pull
// request 9540) with this same blank import in this package.

package query

import _ "github.com/jaegertracing/jaeger/internal/gogocodec"
