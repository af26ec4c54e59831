package main

import (
	"fmt"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// workload is a pod template with where it came from.
type workload struct {
	name      string
	kind      string
	selector  *metav1.LabelSelector
	template  corev1.PodTemplateSpec
	claims    []corev1.PersistentVolumeClaim
	governing string // StatefulSet serviceName
}

// Check runs the checks across all decoded objects and returns every
// problem found (nil when there is none).
func Check(objects []Object) []error {
	var errs []error
	fail := func(o Object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %s: %s", o.Source, o.Name(), fmt.Sprintf(format, args...)))
	}

	seen := map[string]string{}
	configMaps := map[string]bool{}
	serviceAccounts := map[string]bool{"default": true}
	services := map[string]*corev1.Service{}
	var workloads []workload
	for _, o := range objects {
		checkMeta(o, fail)
		id := o.Kind + "/" + o.Meta.GetNamespace() + "/" + o.Meta.GetName()
		if prev, ok := seen[id]; ok {
			fail(o, "defined twice (also at %s)", prev)
		}
		seen[id] = o.Source
		switch obj := o.Obj.(type) {
		case *corev1.ConfigMap:
			configMaps[obj.Name] = true
			for k := range obj.Data {
				for _, msg := range validation.IsConfigMapKey(k) {
					fail(o, "data key %q: %s", k, msg)
				}
			}
		case *corev1.ServiceAccount:
			serviceAccounts[obj.Name] = true
		case *corev1.Service:
			services[obj.Name] = obj
		case *appsv1.Deployment:
			workloads = append(workloads, workload{o.Name(), o.Kind, obj.Spec.Selector, obj.Spec.Template, nil, ""})
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{o.Name(), o.Kind, obj.Spec.Selector, obj.Spec.Template, obj.Spec.VolumeClaimTemplates, obj.Spec.ServiceName})
		case *appsv1.DaemonSet:
			workloads = append(workloads, workload{o.Name(), o.Kind, obj.Spec.Selector, obj.Spec.Template, nil, ""})
		}
	}

	for _, o := range objects {
		switch obj := o.Obj.(type) {
		case *corev1.Service:
			checkService(o, obj, workloads, fail)
		case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet:
			for _, w := range workloads {
				if w.name == o.Name() {
					checkWorkload(o, w, configMaps, serviceAccounts, services, fail)
				}
			}
		}
	}
	return errs
}

func checkMeta(o Object, fail func(Object, string, ...any)) {
	name := o.Meta.GetName()
	if name == "" {
		fail(o, "metadata.name is empty")
	}
	nameRule := validation.IsDNS1123Subdomain
	if o.Kind == "Service" {
		nameRule = validation.IsDNS1035Label
	}
	for _, msg := range nameRule(name) {
		fail(o, "name %q: %s", name, msg)
	}
	checkLabels(o, "metadata.labels", o.Meta.GetLabels(), fail)
	for k := range o.Meta.GetAnnotations() {
		for _, msg := range validation.IsQualifiedName(k) {
			fail(o, "annotation key %q: %s", k, msg)
		}
	}
}

func checkLabels(o Object, where string, set map[string]string, fail func(Object, string, ...any)) {
	for k, v := range set {
		for _, msg := range validation.IsQualifiedName(k) {
			fail(o, "%s key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			fail(o, "%s %s=%q: %s", where, k, v, msg)
		}
	}
}

func checkService(o Object, svc *corev1.Service, workloads []workload, fail func(Object, string, ...any)) {
	switch svc.Spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	case corev1.ServiceTypeExternalName:
		return
	default:
		fail(o, "spec.type %q is not a Service type", svc.Spec.Type)
	}
	if len(svc.Spec.Ports) == 0 {
		fail(o, "has no ports")
	}
	names := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		if len(svc.Spec.Ports) > 1 && p.Name == "" {
			fail(o, "port %d has no name (required when a Service has several)", p.Port)
		}
		if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				fail(o, "port name %q: %s", p.Name, msg)
			}
		}
		if names[p.Name] {
			fail(o, "port name %q is used twice", p.Name)
		}
		names[p.Name] = true
		if p.Port < 1 || p.Port > 65535 {
			fail(o, "port %q: %d is out of range", p.Name, p.Port)
		}
		checkProtocol(o, "port "+p.Name, p.Protocol, fail)
	}
	if len(svc.Spec.Selector) == 0 {
		return // endpoints managed elsewhere
	}
	checkLabels(o, "spec.selector", svc.Spec.Selector, fail)
	selector := labels.SelectorFromSet(svc.Spec.Selector)
	matched := 0
	for _, w := range workloads {
		if !selector.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		matched++
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if !podHasPort(w.template.Spec, target, protocolOf(p.Protocol)) {
				fail(o, "port %q targets %s/%s, which no container of %s declares", p.Name, target.String(), protocolOf(p.Protocol), w.name)
			}
		}
	}
	if matched == 0 {
		fail(o, "selector %v matches the pods of no Deployment, StatefulSet or DaemonSet", svc.Spec.Selector)
	}
}

func checkWorkload(o Object, w workload, configMaps, serviceAccounts map[string]bool,
	services map[string]*corev1.Service, fail func(Object, string, ...any)) {
	if w.selector == nil {
		fail(o, "spec.selector is missing")
	} else if sel, err := metav1.LabelSelectorAsSelector(w.selector); err != nil {
		fail(o, "spec.selector: %v", err)
	} else if sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
		fail(o, "spec.selector does not select the pod template's labels %v", w.template.Labels)
	}
	checkLabels(o, "spec.template.metadata.labels", w.template.Labels, fail)

	if w.kind == "StatefulSet" {
		svc, ok := services[w.governing]
		switch {
		case w.governing == "":
		case !ok:
			fail(o, "spec.serviceName %q is not a Service of these manifests", w.governing)
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			fail(o, "spec.serviceName %q is not a headless Service (clusterIP: None)", w.governing)
		case !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)):
			fail(o, "its governing Service %q does not select its pods", w.governing)
		}
	}

	pod := w.template.Spec
	if sa := pod.ServiceAccountName; sa != "" && !serviceAccounts[sa] {
		fail(o, "serviceAccountName %q is not a ServiceAccount of these manifests", sa)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		if volumes[v.Name] {
			fail(o, "volume %q is defined twice", v.Name)
		}
		volumes[v.Name] = true
		if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
			fail(o, "volume %q uses ConfigMap %q, which is not in these manifests", v.Name, v.ConfigMap.Name)
		}
	}
	for _, c := range w.claims {
		if volumes[c.Name] {
			fail(o, "volume claim template %q has the name of a volume", c.Name)
		}
		volumes[c.Name] = true
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			fail(o, "volume claim template %q requests no storage", c.Name)
		}
	}
	podNonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot

	if len(pod.Containers) == 0 {
		fail(o, "has no containers")
	}
	containerNames := map[string]bool{}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, c := range all {
		where := "container " + c.Name
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			fail(o, "%s: name: %s", where, msg)
		}
		if containerNames[c.Name] {
			fail(o, "%s: name used twice", where)
		}
		containerNames[c.Name] = true
		if c.Image == "" {
			fail(o, "%s: no image", where)
		}
		portNames := map[string]bool{}
		for _, p := range c.Ports {
			if p.Name != "" {
				for _, msg := range validation.IsValidPortName(p.Name) {
					fail(o, "%s: port name %q: %s", where, p.Name, msg)
				}
				if portNames[p.Name] {
					fail(o, "%s: port name %q is used twice", where, p.Name)
				}
				portNames[p.Name] = true
			}
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				fail(o, "%s: containerPort %d is out of range", where, p.ContainerPort)
			}
			if p.HostPort < 0 || p.HostPort > 65535 {
				fail(o, "%s: hostPort %d is out of range", where, p.HostPort)
			}
			checkProtocol(o, where+" port "+p.Name, p.Protocol, fail)
		}
		for _, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				fail(o, "%s: env %q: %s", where, e.Name, msg)
			}
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				fail(o, "%s: volumeMount %q uses no volume of the pod", where, m.Name)
			}
			if !path.IsAbs(m.MountPath) {
				fail(o, "%s: mountPath %q is not absolute", where, m.MountPath)
			}
			if mounts[m.MountPath] {
				fail(o, "%s: mountPath %q is used twice", where, m.MountPath)
			}
			mounts[m.MountPath] = true
		}
		for name, probe := range map[string]*corev1.Probe{
			"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe,
		} {
			checkProbe(o, where+" "+name, c, probe, fail)
		}
		checkContainerPolicy(o, where, c, podNonRoot, fail)
	}
}

func checkProbe(o Object, where string, c corev1.Container, p *corev1.Probe, fail func(Object, string, ...any)) {
	if p == nil {
		return
	}
	var port intstr.IntOrString
	switch {
	case p.HTTPGet != nil:
		port = p.HTTPGet.Port
		if !strings.HasPrefix(p.HTTPGet.Path, "/") {
			fail(o, "%s: path %q does not start with /", where, p.HTTPGet.Path)
		}
	case p.TCPSocket != nil:
		port = p.TCPSocket.Port
	case p.GRPC != nil:
		port = intstr.FromInt32(p.GRPC.Port)
	case p.Exec != nil:
		return
	default:
		fail(o, "%s: has no handler", where)
		return
	}
	if !containerHasPort(c, port, corev1.ProtocolTCP) {
		fail(o, "%s: port %s is not a TCP port the container declares", where, port.String())
	}
}

// checkContainerPolicy enforces the chart's security policy on every container.
func checkContainerPolicy(o Object, where string, c corev1.Container, podNonRoot bool, fail func(Object, string, ...any)) {
	sc := c.SecurityContext
	if sc == nil {
		fail(o, "%s: no securityContext", where)
		return
	}
	if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
		fail(o, "%s: runAsNonRoot is not set (pod or container)", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		fail(o, "%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		fail(o, "%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		fail(o, "%s: privileged", where)
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
	}
	if !dropsAll {
		fail(o, "%s: capabilities do not drop ALL", where)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		fail(o, "%s: no CPU request", where)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		fail(o, "%s: no memory request", where)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		fail(o, "%s: no memory limit", where)
	}
}

func checkProtocol(o Object, where string, p corev1.Protocol, fail func(Object, string, ...any)) {
	switch p {
	case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		fail(o, "%s: protocol %q is not TCP, UDP or SCTP", where, p)
	}
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func podHasPort(pod corev1.PodSpec, port intstr.IntOrString, protocol corev1.Protocol) bool {
	for _, c := range pod.Containers {
		if containerHasPort(c, port, protocol) {
			return true
		}
	}
	return false
}

func containerHasPort(c corev1.Container, port intstr.IntOrString, protocol corev1.Protocol) bool {
	for _, p := range c.Ports {
		if protocolOf(p.Protocol) != protocol {
			continue
		}
		if port.Type == intstr.String && p.Name == port.StrVal {
			return true
		}
		if port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}
