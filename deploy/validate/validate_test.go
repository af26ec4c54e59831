package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func validate(t *testing.T, manifest string) error {
	t.Helper()
	objects, errs := Decode("test.yaml", []byte(manifest))
	errs = append(errs, Check(objects)...)
	return errors.Join(errs...)
}

func good(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestTheGoodManifestIsValid(t *testing.T) {
	if err := validate(t, good(t)); err != nil {
		t.Fatalf("testdata/good.yaml: %v", err)
	}
	objects, _ := Decode("good.yaml", []byte(good(t)))
	if got, want := Summary(objects), "ConfigMap×1, Service×2, ServiceAccount×1, StatefulSet×1"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if v, err := ConfigMapValue(objects, "spoor.yaml"); err != nil || v != "version: 1\n" {
		t.Fatalf("ConfigMapValue = %q, %v", v, err)
	}
	if args, err := ContainerArgs(objects, "StatefulSet/demo/spoor"); err != nil || strings.Join(args, " ") != "--config /etc/spoor/spoor.yaml" {
		t.Fatalf("ContainerArgs = %q, %v", args, err)
	}
}

// Each case breaks testdata/good.yaml with one edit; the validator must
// refuse it with a message naming the problem.
func TestOneBrokenFieldIsRefused(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"misspelled field", "      containers:", "      contianers:", `unknown field "spec.template.spec.contianers"`},
		{"misspelled nested field", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", `unknown field`},
		{"wrong type", "replicas: 1", `replicas: "one"`, "replicas"},
		{"duplicate field", "  replicas: 1\n", "  replicas: 1\n  replicas: 2\n", `key "replicas" already set`},
		{"unknown kind", "kind: ConfigMap", "kind: ConfigMapp", "ConfigMapp"},
		{"no kind", "kind: ServiceAccount\n", "", "apiVersion and kind are required"},
		{"service targets a missing port", "targetPort: otlp-grpc,", "targetPort: otlp-grcp,", `targets otlp-grcp/TCP`},
		{"service targets the wrong protocol", "targetPort: jg-compact-trft, protocol: UDP", "targetPort: jg-compact-trft, protocol: TCP", "jg-compact-trft/TCP"},
		{"numeric target port missing", "targetPort: 13133 }", "targetPort: 13134 }", "13134/TCP"},
		{"service selects nothing", "  selector:\n    app.kubernetes.io/name: demo\n  ports:\n    - { name: otlp-grpc", "  selector:\n    app.kubernetes.io/name: other\n  ports:\n    - { name: otlp-grpc", "matches the pods of no"},
		{"container port name too long", "{ name: admin-http, containerPort", "{ name: admin-http-listener, containerPort", "port name"},
		{"probe on an undeclared port", "path: /ready, port: 13133", "path: /ready, port: 13134", "13134 is not a TCP port"},
		{"probe on an unknown port name", "path: /status, port: admin-http", "path: /status, port: admin", "port admin is not"},
		{"mount without a volume", "{ name: config, mountPath", "{ name: konfig, mountPath", `volumeMount "konfig"`},
		{"missing ConfigMap", "configMap:\n            name: demo", "configMap:\n            name: demo-config", `ConfigMap "demo-config"`},
		{"missing ServiceAccount", "serviceAccountName: demo", "serviceAccountName: spoor", `serviceAccountName "spoor"`},
		{"writable root filesystem", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"may run as root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"},
		{"no memory limit", "limits: { memory: 256Mi }", "limits: {}", "no memory limit"},
		{"governing service not headless", "  clusterIP: None\n", "", "not a headless Service"},
		{"selector misses the template", "    matchLabels:\n      app.kubernetes.io/name: demo", "    matchLabels:\n      app.kubernetes.io/name: dem0", "does not select"},
		{"invalid label value", "    app.kubernetes.io/name: demo\ndata:", "    app.kubernetes.io/name: demo!\ndata:", "metadata.labels"},
		{"service name not a DNS label", "name: demo-collector", "name: demo.collector", `name "demo.collector"`},
		{"env name", "name: SPOOR_LOG,", "name: SPOOR LOG,", `env "SPOOR LOG"`},
		{"quantity", "storage: 1Gi", "storage: 1 gigabyte", "quantities must match"},
	}
	base := good(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("testdata/good.yaml has no %q", c.old)
			}
			err := validate(t, strings.Replace(base, c.old, c.new, 1))
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestDefinedTwiceIsRefused(t *testing.T) {
	base := good(t)
	sa := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: demo\n"
	err := validate(t, base+"---\n"+sa)
	if err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("got %v", err)
	}
}
