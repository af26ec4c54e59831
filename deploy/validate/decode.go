package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	// Where it came from: "FILE#N" (N counts documents from 1).
	Source string
	Kind   string
	Obj    runtime.Object
	Meta   metav1.Object
}

// Name is "Kind/name" for messages.
func (o Object) Name() string { return o.Kind + "/" + o.Meta.GetName() }

var scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme,
		policyv1.AddToScheme, rbacv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err) // the scheme of k8s.io/api itself; not input
		}
	}
}

// Strict: unknown and duplicate fields are errors, not ignored.
var decoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// Decode splits a YAML stream into documents and decodes each one strictly
// into its typed object. Empty documents (Helm leaves some) are skipped.
func Decode(file string, data []byte) ([]Object, []error) {
	var objects []Object
	var errs []error
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		source := fmt.Sprintf("%s#%d", file, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", source, err))
			break
		}
		if isEmpty(doc) {
			continue
		}
		obj, err := decodeDocument(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", source, err))
			continue
		}
		meta, ok := obj.(metav1.Object)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %T has no object metadata", source, obj))
			continue
		}
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		objects = append(objects, Object{Source: source, Kind: kind, Obj: obj, Meta: meta})
	}
	return objects, errs
}

func decodeDocument(doc []byte) (runtime.Object, error) {
	// Documents must be maps with apiVersion and kind; the decoder's own
	// messages for those are obscure.
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsyaml.Unmarshal(doc, &head); err != nil {
		return nil, fmt.Errorf("not a YAML mapping: %v", err)
	}
	if head.APIVersion == "" || head.Kind == "" {
		return nil, fmt.Errorf("apiVersion and kind are required (got %q, %q)", head.APIVersion, head.Kind)
	}
	obj, gvk, err := decoder.Decode(doc, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", head.APIVersion, head.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	return obj, nil
}

func isEmpty(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}

// Summary counts objects by kind: "ConfigMap×1, Service×4, …".
func Summary(objects []Object) string {
	counts := map[string]int{}
	for _, o := range objects {
		counts[o.Kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// ConfigMapValue is data[key] of the one ConfigMap that has key.
func ConfigMapValue(objects []Object, key string) (string, error) {
	var found []string
	var value string
	for _, o := range objects {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
			if v, ok := cm.Data[key]; ok {
				found = append(found, o.Name())
				value = v
			}
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("want one ConfigMap with key %q, found %d %v", key, len(found), found)
	}
	return value, nil
}

// ContainerArgs is the command and args of container C of the workload
// KIND/NAME, given as "KIND/NAME/C".
func ContainerArgs(objects []Object, ref string) ([]string, error) {
	parts := strings.Split(ref, "/")
	if len(parts) != 3 {
		return nil, fmt.Errorf("container reference %q is not KIND/NAME/CONTAINER", ref)
	}
	for _, o := range objects {
		if o.Kind != parts[0] || o.Meta.GetName() != parts[1] {
			continue
		}
		var pod corev1.PodSpec
		switch obj := o.Obj.(type) {
		case *appsv1.Deployment:
			pod = obj.Spec.Template.Spec
		case *appsv1.StatefulSet:
			pod = obj.Spec.Template.Spec
		case *appsv1.DaemonSet:
			pod = obj.Spec.Template.Spec
		default:
			return nil, fmt.Errorf("%s is not a workload", o.Name())
		}
		for _, c := range pod.Containers {
			if c.Name == parts[2] {
				return append(append([]string{}, c.Command...), c.Args...), nil
			}
		}
	}
	return nil, fmt.Errorf("no container %q", ref)
}
