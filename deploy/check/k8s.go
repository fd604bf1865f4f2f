package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The kinds the manifests may use, each decoded into its typed API object.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"keda.sh/v1alpha1/ScaledObject":           func() any { return new(scaledObject) },
	"keda.sh/v1alpha1/TriggerAuthentication":  func() any { return new(triggerAuthentication) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return new(monitoringv1.PodMonitor) },
}

// object is one decoded manifest document.
type object struct {
	file string // where it was read
	kind string
	meta *metav1.ObjectMeta
	obj  any
}

func (o object) String() string { return o.kind + "/" + o.meta.Name }

// decodeDocs splits a YAML stream into documents and decodes each strictly.
func decodeDocs(data []byte) ([]object, []error) {
	var objs []object
	var errs []error
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	line := 1 // where the document starts in the file
	for i := 1; ; i++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			break
		}
		start := line
		line += bytes.Count(doc, []byte("\n"))
		if i > 1 {
			line++ // the "---" separator
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		if len(probe) == 0 { // only comments
			continue
		}
		o, err := decodeStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", start+fieldLine(doc, err), err))
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}

// How encoding/json names the field of an unknown field or a wrong type.
var fieldInError = regexp.MustCompile(`unknown field "([^"]+)"|Go struct field [^ ]*?\.?([A-Za-z0-9_]+) of type`)

// fieldLine returns the line (0-based, within doc) of the field a decoding
// error names, or 0: encoding/json does not say where it was. The first line
// with that key is a guess, right unless the key is repeated before.
func fieldLine(doc []byte, err error) int {
	m := fieldInError.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	if m[1] == "" {
		m[1] = m[2]
	}
	re := regexp.MustCompile(`^\s*(- )?"?` + regexp.QuoteMeta(m[1]) + `"?\s*:`)
	for i, l := range strings.Split(string(doc), "\n") {
		if re.MatchString(l) {
			return i
		}
	}
	return 0
}

// decodeStrict decodes one document into its typed object: an unknown field,
// a duplicate field or a value of the wrong type is an error.
func decodeStrict(doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return object{}, errors.New("apiVersion and kind are required")
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		known := make([]string, 0, len(kinds))
		for k := range kinds {
			known = append(known, k)
		}
		sort.Strings(known)
		return object{}, fmt.Errorf("unknown apiVersion/kind %s %s (the check knows %s; add the kind to deploy/check/k8s.go)",
			tm.APIVersion, tm.Kind, strings.Join(known, ", "))
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		var name struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &name)
		return object{}, fmt.Errorf("%s/%s: %w", tm.Kind, name.Metadata.Name, err)
	}
	o := object{kind: tm.Kind, obj: obj, meta: metaOf(obj)}
	if o.meta.Name == "" {
		return object{}, fmt.Errorf("%s: metadata.name is required", tm.Kind)
	}
	return o, nil
}

func metaOf(obj any) *metav1.ObjectMeta {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return &o.ObjectMeta
	case *corev1.ConfigMap:
		return &o.ObjectMeta
	case *corev1.Secret:
		return &o.ObjectMeta
	case *corev1.Service:
		return &o.ObjectMeta
	case *corev1.ServiceAccount:
		return &o.ObjectMeta
	case *appsv1.Deployment:
		return &o.ObjectMeta
	case *policyv1.PodDisruptionBudget:
		return &o.ObjectMeta
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &o.ObjectMeta
	case *scaledObject:
		return &o.ObjectMeta
	case *triggerAuthentication:
		return &o.ObjectMeta
	case *monitoringv1.ServiceMonitor:
		return &o.ObjectMeta
	case *monitoringv1.PodMonitor:
		return &o.ObjectMeta
	}
	panic(fmt.Sprintf("metaOf: %T", obj))
}

// k8sSet is every object, built and standalone, for cross-references.
type k8sSet struct {
	r         *reporter
	namespace string // the kustomization's
	objs      []object
}

func find[T any](s *k8sSet, name string) (T, bool) {
	for _, o := range s.objs {
		if t, ok := o.obj.(T); ok && o.meta.Name == name {
			return t, true
		}
	}
	var zero T
	return zero, false
}

func all[T any](s *k8sSet) []T {
	var ts []T
	for _, o := range s.objs {
		if t, ok := o.obj.(T); ok {
			ts = append(ts, t)
		}
	}
	return ts
}

func (s *k8sSet) fileOf(obj any) string {
	for _, o := range s.objs {
		if o.obj == obj {
			return o.file
		}
	}
	return "k8s"
}

func checkK8s(r *reporter, dir string) {
	before := len(r.problems)
	kfile := filepath.Join(dir, "kustomization.yaml")
	raw, err := os.ReadFile(kfile) //nolint:gosec // G703: the deploy dir named on the command line
	if err != nil {
		r.errorf(kfile, "%v", err)
		return
	}
	var kust kusttypes.Kustomization
	if err := yaml.UnmarshalStrict(raw, &kust); err != nil {
		r.errorf(kfile, "%v", err)
		return
	}
	listed := map[string]bool{}
	for _, res := range kust.Resources {
		listed[res] = true
		if _, err := os.Stat(filepath.Join(dir, res)); err != nil { //nolint:gosec // G703: files the kustomization names, in the deploy dir
			r.errorf(kfile, "resource %s: %v", res, err)
		}
	}

	// Every manifest on its own first, so that problems name their file.
	decodeErrors := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	set := &k8sSet{r: r, namespace: kust.Namespace}
	var standalone []object
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f) //nolint:gosec // G703: a file of the deploy dir named on the command line
		if err != nil {
			r.errorf(f, "%v", err)
			continue
		}
		objs, errs := decodeDocs(data)
		for _, err := range errs {
			r.errorf(f, "%v", err)
		}
		decodeErrors += len(errs)
		for i := range objs {
			objs[i].file = f
		}
		if !listed[base] {
			// Applied by hand with -n <namespace>, or with its own namespace.
			for _, o := range objs {
				if o.meta.Namespace != "" && o.meta.Namespace != kust.Namespace {
					r.errorf(f, "%s: namespace %q, want %q or none", o, o.meta.Namespace, kust.Namespace)
				}
			}
			standalone = append(standalone, objs...)
		} else {
			set.objs = append(set.objs, objs...)
		}
	}

	// Then what `kubectl apply -k` applies: the kustomize build, decoded again.
	built, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		r.errorf(kfile, "kustomize build: %v", err)
	} else {
		files := map[string]string{} // kind/name → source file
		for _, o := range set.objs {
			files[o.String()] = o.file
		}
		set.objs = nil
		for _, res := range built.Resources() {
			doc, err := res.AsYAML()
			if err != nil {
				r.errorf(kfile, "kustomize build: %s: %v", res.CurId(), err)
				continue
			}
			o, err := decodeStrict(doc)
			if err != nil {
				if decodeErrors == 0 { // else already reported with its file
					r.errorf(kfile, "kustomize build: %v", err)
				}
				continue
			}
			o.file = files[o.String()]
			if o.file == "" {
				o.file = kfile
			}
			if o.kind != "Namespace" && o.meta.Namespace != kust.Namespace {
				r.errorf(o.file, "%s: namespace %q after the build, want %q", o, o.meta.Namespace, kust.Namespace)
			}
			set.objs = append(set.objs, o)
		}
		r.pass(kfile, fmt.Sprintf("kustomize build: %d objects, decoded strictly into the Kubernetes API types", len(set.objs)), before)
	}
	if len(r.problems) > before {
		r.errorf(dir, "references between the manifests not checked until the problems above are fixed")
		return
	}
	builtCount := len(set.objs)
	set.objs = append(set.objs, standalone...)
	before = len(r.problems)
	set.checkAll(builtCount)
	if len(set.objs) > 0 {
		r.pass(dir, "references between the manifests, settings, probes, grace periods, security, KEDA", before)
	}
}

// checkAll runs the cross-reference checks; objs[:built] are what
// kustomization.yaml applies, the rest the optional files.
func (s *k8sSet) checkAll(built int) {
	for _, o := range s.objs {
		s.checkMeta(o)
	}
	var haveHPA, haveKEDA bool
	for _, o := range s.objs[:built] {
		switch o.obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			haveHPA = true
		case *scaledObject:
			haveKEDA = true
		}
	}
	if haveHPA && haveKEDA {
		s.r.errorf(filepath.Join(filepath.Dir(s.objs[0].file), "kustomization.yaml"),
			"both a HorizontalPodAutoscaler and a KEDA ScaledObject are applied: they would fight over the replicas")
	}
	for _, o := range s.objs {
		switch v := o.obj.(type) {
		case *corev1.ConfigMap:
			s.checkConfigMap(o, v)
		case *corev1.Secret:
			s.checkSecret(o, v)
		case *appsv1.Deployment:
			s.checkDeployment(o, v)
		case *corev1.Service:
			s.checkService(o, v)
		case *policyv1.PodDisruptionBudget:
			s.checkPDB(o, v)
		case *scaledObject:
			s.checkScaledObject(o, v)
		case *triggerAuthentication:
			s.checkTriggerAuth(o, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			s.checkHPA(o, v)
		case *monitoringv1.ServiceMonitor:
			s.checkServiceMonitor(o, v)
		case *monitoringv1.PodMonitor:
			s.checkPodMonitor(o, v)
		}
	}
	for _, comp := range []string{"producer", "worker"} {
		if s.deploymentOf(comp) == nil {
			s.r.errorf(filepath.Join(filepath.Dir(s.objs[0].file), "kustomization.yaml"), "no Deployment runs the %s", comp)
		}
	}
}

func (s *k8sSet) checkMeta(o object) {
	var errs []string
	if o.kind == "Service" || o.kind == "Namespace" {
		errs = validation.IsDNS1123Label(o.meta.Name)
	} else {
		errs = validation.IsDNS1123Subdomain(o.meta.Name)
	}
	for _, e := range errs {
		s.r.errorf(o.file, "%s: metadata.name: %s", o, e)
	}
	s.checkLabels(o, "metadata.labels", o.meta.Labels)
}

func (s *k8sSet) checkLabels(o object, field string, l map[string]string) {
	for k, v := range l {
		for _, e := range validation.IsQualifiedName(k) {
			s.r.errorf(o.file, "%s: %s key %q: %s", o, field, k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			s.r.errorf(o.file, "%s: %s %s=%q: %s", o, field, k, v, e)
		}
	}
}

func (s *k8sSet) checkConfigMap(o object, cm *corev1.ConfigMap) {
	for k, v := range cm.Data {
		for _, e := range validation.IsConfigMapKey(k) {
			s.r.errorf(o.file, "%s: key %q: %s", o, k, e)
		}
		env, known := knownEnv[k]
		switch {
		case !known:
			s.r.errorf(o.file, "%s: %s is not a setting of the service (docs/configuration.md)", o, k)
		case env.secret:
			s.r.errorf(o.file, "%s: %s is a secret: put it in the Secret", o, k)
		default:
			if err := checkEnvValue(k, v); err != nil {
				s.r.errorf(o.file, "%s: %s: %v", o, k, err)
			}
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if _, ok := cm.Data[k]; ok {
			s.r.errorf(o.file, "%s: %s: use the ServiceAccount's IAM role (IRSA, Pod Identity), not static keys", o, k)
		}
	}
}

// secretKeys returns a Secret's keys, from data or stringData.
func secretKeys(sec *corev1.Secret) map[string]string {
	keys := map[string]string{}
	for k, v := range sec.Data {
		keys[k] = string(v)
	}
	for k, v := range sec.StringData {
		keys[k] = v
	}
	return keys
}

func (s *k8sSet) checkSecret(o object, sec *corev1.Secret) {
	if len(sec.Data) > 0 {
		s.r.errorf(o.file, "%s: use stringData, so that the placeholders are readable", o)
	}
	for k, v := range secretKeys(sec) {
		for _, e := range validation.IsConfigMapKey(k) {
			s.r.errorf(o.file, "%s: key %q: %s", o, k, e)
		}
		env, known := knownEnv[k]
		if _, extra := extraSecretKeys[k]; !known && !extra {
			s.r.errorf(o.file, "%s: %s is not a setting of the service (docs/configuration.md)", o, k)
			continue
		}
		if known && !env.secret {
			s.r.errorf(o.file, "%s: %s is not a secret: put it in the ConfigMap", o, k)
		}
		if k == "AWS_ACCESS_KEY_ID" || k == "AWS_SECRET_ACCESS_KEY" {
			s.r.errorf(o.file, "%s: %s: use the ServiceAccount's IAM role (IRSA, Pod Identity), not static keys", o, k)
		}
		if !strings.Contains(v, "CHANGE-ME") {
			s.r.errorf(o.file, "%s: %s: an example Secret holds placeholders only (containing CHANGE-ME)", o, k)
		}
		if err := checkEnvValue(k, v); err != nil {
			s.r.errorf(o.file, "%s: %s: %v", o, k, err)
		}
	}
}

// podMatches says whether a selector selects the pods of a Deployment.
func podMatches(sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	if sel == nil {
		return false
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || ls.Empty() {
		return false
	}
	return ls.Matches(labels.Set(d.Spec.Template.Labels))
}

// component says which binary a Deployment runs: producer, worker or "".
func component(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if len(c.Command) > 0 {
			switch filepath.Base(c.Command[0]) {
			case "producer", "worker":
				return filepath.Base(c.Command[0])
			}
		}
	}
	return ""
}

func (s *k8sSet) deploymentOf(comp string) *appsv1.Deployment {
	for _, d := range all[*appsv1.Deployment](s) {
		if component(d) == comp {
			return d
		}
	}
	return nil
}

// envValue is one variable of a container's environment.
type envValue struct {
	value  string
	secret bool // from a Secret: value is a placeholder
}

func (s *k8sSet) checkDeployment(o object, d *appsv1.Deployment) {
	spec := &d.Spec.Template.Spec
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		s.r.errorf(o.file, "%s: spec.selector.matchLabels is required", o)
	} else if !podMatches(d.Spec.Selector, d) {
		s.r.errorf(o.file, "%s: spec.selector does not match the pod template's labels", o)
	}
	s.checkLabels(o, "spec.template.metadata.labels", d.Spec.Template.Labels)
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		if _, ok := find[*corev1.ServiceAccount](s, sa); !ok {
			s.r.errorf(o.file, "%s: serviceAccountName %q: no such ServiceAccount", o, sa)
		}
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		s.r.errorf(o.file, "%s: securityContext.runAsNonRoot must be true", o)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		s.r.errorf(o.file, "%s: securityContext.runAsUser must be set and not 0: the image's user \"nonroot\" is a name, which runAsNonRoot cannot verify", o)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	comp := component(d)
	if comp == "" {
		s.r.errorf(o.file, "%s: no container runs /usr/local/bin/producer or /usr/local/bin/worker", o)
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		where := fmt.Sprintf("%s container %s", o, c.Name)
		if c.Image == "" {
			s.r.errorf(o.file, "%s: image is required", where)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			if p.Name != "" {
				for _, e := range validation.IsValidPortName(p.Name) {
					s.r.errorf(o.file, "%s: port name %q: %s", where, p.Name, e)
				}
				if _, dup := ports[p.Name]; dup {
					s.r.errorf(o.file, "%s: port name %q twice", where, p.Name)
				}
				ports[p.Name] = p.ContainerPort
			}
		}
		probePorts := map[int32]bool{}
		for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
			if p == nil {
				if name != "startupProbe" {
					s.r.errorf(o.file, "%s: %s is required", where, name)
				}
				continue
			}
			if p.HTTPGet == nil {
				s.r.errorf(o.file, "%s: %s: use httpGet (the image has no shell for exec probes)", where, name)
				continue
			}
			port, ok := resolvePort(p.HTTPGet.Port, c.Ports)
			if !ok {
				s.r.errorf(o.file, "%s: %s: port %s is not a port of the container", where, name, p.HTTPGet.Port.String())
			}
			probePorts[port] = true
			want := map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}[name]
			if p.HTTPGet.Path != want {
				s.r.errorf(o.file, "%s: %s: path %q, want %q", where, name, p.HTTPGet.Path, want)
			}
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			s.r.errorf(o.file, "%s: securityContext.readOnlyRootFilesystem must be true", where)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			s.r.errorf(o.file, "%s: securityContext.allowPrivilegeEscalation must be false", where)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			s.r.errorf(o.file, "%s: securityContext.capabilities.drop must contain ALL", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				s.r.errorf(o.file, "%s: resources.requests.%s is required", where, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			s.r.errorf(o.file, "%s: resources.limits.memory is required", where)
		}
		for res, lim := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[res]; ok && req.Cmp(lim) > 0 {
				s.r.errorf(o.file, "%s: resources.requests.%s %s is above the limit %s", where, res, req.String(), lim.String())
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				s.r.errorf(o.file, "%s: volumeMount %q: no such volume", where, m.Name)
			}
		}
		env := s.containerEnv(o, where, c)
		if comp == "" {
			continue
		}
		for _, k := range requiredEnv[comp] {
			if _, ok := env[k]; !ok {
				s.r.errorf(o.file, "%s: %s is not set (the %s needs it)", where, k, comp)
			}
		}
		addrVar := map[string]string{"producer": "PRODUCER_ADDR", "worker": "WORKER_HEALTH_ADDR"}[comp]
		if v, ok := env[addrVar]; ok && !v.secret {
			if port, err := addrPort(v.value); err == nil && !probePorts[int32(port)] {
				s.r.errorf(o.file, "%s: %s listens on port %d, but the probes use another port", where, addrVar, port)
			}
		}
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if spec.TerminationGracePeriodSeconds != nil {
			grace = *spec.TerminationGracePeriodSeconds
		}
		var preStop int64
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = c.Lifecycle.PreStop.Sleep.Seconds
		}
		var stop time.Duration
		var what string
		if comp == "worker" {
			stop = defaultShutdownTimeout
			if v, ok := env["WORKER_SHUTDOWN_TIMEOUT"]; ok {
				stop = shutdownTimeout(v.value)
			}
			what = "WORKER_SHUTDOWN_TIMEOUT"
		} else {
			stop, what = producerShutdown, "the producer's shutdown timeout"
		}
		need := time.Duration(preStop)*time.Second + stop
		if time.Duration(grace)*time.Second <= need {
			s.r.errorf(o.file, "%s: terminationGracePeriodSeconds %d must be above %s (%s) plus preStop (%ds): the kubelet would kill tasks or requests still finishing",
				o, grace, what, stop, preStop)
		}
	}
}

// resolvePort finds a probe's or Service's target among container ports.
func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int32, bool) {
	for _, cp := range ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// containerEnv resolves a container's environment and checks every source:
// the ConfigMap or Secret and the key must exist.
func (s *k8sSet) containerEnv(o object, where string, c *corev1.Container) map[string]envValue {
	env := map[string]envValue{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := find[*corev1.ConfigMap](s, ef.ConfigMapRef.Name)
			if !ok {
				s.r.errorf(o.file, "%s: envFrom configMapRef %q: no such ConfigMap", where, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = envValue{value: v}
			}
		case ef.SecretRef != nil:
			sec, ok := find[*corev1.Secret](s, ef.SecretRef.Name)
			if !ok {
				s.r.errorf(o.file, "%s: envFrom secretRef %q: no such Secret (secret.example.yaml names the keys)", where, ef.SecretRef.Name)
				continue
			}
			for k := range secretKeys(sec) {
				env[ef.Prefix+k] = envValue{secret: true}
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			s.r.errorf(o.file, "%s: env %q: %s", where, e.Name, msg)
		}
		if seen[e.Name] {
			s.r.errorf(o.file, "%s: env %s twice", where, e.Name)
		}
		seen[e.Name] = true
		if _, known := knownEnv[e.Name]; !known && !strings.HasPrefix(e.Name, "GO") {
			s.r.errorf(o.file, "%s: env %s is not a setting of the service (docs/configuration.md)", where, e.Name)
		}
		if e.Name == "AWS_ACCESS_KEY_ID" || e.Name == "AWS_SECRET_ACCESS_KEY" {
			s.r.errorf(o.file, "%s: env %s: use the ServiceAccount's IAM role (IRSA, Pod Identity), not static keys", where, e.Name)
		}
		switch {
		case e.ValueFrom == nil:
			if knownEnv[e.Name].secret {
				s.r.errorf(o.file, "%s: env %s is a secret: take it from the Secret (valueFrom.secretKeyRef)", where, e.Name)
			}
			if err := checkEnvValue(e.Name, e.Value); err != nil {
				s.r.errorf(o.file, "%s: env %s: %v", where, e.Name, err)
			}
			env[e.Name] = envValue{value: e.Value}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			sec, ok := find[*corev1.Secret](s, ref.Name)
			switch {
			case !ok:
				s.r.errorf(o.file, "%s: env %s: no Secret %q (secret.example.yaml names the keys)", where, e.Name, ref.Name)
			case !hasKey(secretKeys(sec), ref.Key) && (ref.Optional == nil || !*ref.Optional):
				s.r.errorf(o.file, "%s: env %s: Secret %s has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = envValue{secret: true}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := find[*corev1.ConfigMap](s, ref.Name)
			switch {
			case !ok:
				s.r.errorf(o.file, "%s: env %s: no ConfigMap %q", where, e.Name, ref.Name)
			case !hasKey(cm.Data, ref.Key) && (ref.Optional == nil || !*ref.Optional):
				s.r.errorf(o.file, "%s: env %s: ConfigMap %s has no key %q", where, e.Name, ref.Name, ref.Key)
			default:
				env[e.Name] = envValue{value: cm.Data[ref.Key]}
			}
		case e.ValueFrom.ResourceFieldRef != nil, e.ValueFrom.FieldRef != nil:
			env[e.Name] = envValue{secret: true} // not known here
		default:
			s.r.errorf(o.file, "%s: env %s: valueFrom names no source", where, e.Name)
		}
	}
	return env
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func (s *k8sSet) checkService(o object, svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 {
		s.r.errorf(o.file, "%s: spec.selector is required", o)
		return
	}
	sel := &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
	var targets []*appsv1.Deployment
	for _, d := range all[*appsv1.Deployment](s) {
		if podMatches(sel, d) {
			targets = append(targets, d)
		}
	}
	if len(targets) == 0 {
		s.r.errorf(o.file, "%s: selector %v matches no Deployment's pods", o, svc.Spec.Selector)
		return
	}
	for _, p := range svc.Spec.Ports {
		tp := p.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(p.Port)
		}
		for _, d := range targets {
			found := false
			for _, c := range d.Spec.Template.Spec.Containers {
				if _, ok := resolvePort(tp, c.Ports); ok {
					found = true
				}
			}
			if !found {
				s.r.errorf(o.file, "%s: port %q: targetPort %s is no container port of Deployment %s", o, p.Name, tp.String(), d.Name)
			}
		}
	}
}

func (s *k8sSet) checkPDB(o object, pdb *policyv1.PodDisruptionBudget) {
	var target *appsv1.Deployment
	for _, d := range all[*appsv1.Deployment](s) {
		if podMatches(pdb.Spec.Selector, d) {
			target = d
		}
	}
	if target == nil {
		s.r.errorf(o.file, "%s: selector matches no Deployment's pods", o)
		return
	}
	if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		s.r.errorf(o.file, "%s: set exactly one of minAvailable and maxUnavailable", o)
	}
	if m := pdb.Spec.MinAvailable; m != nil && m.Type == intstr.Int && target.Spec.Replicas != nil && m.IntVal >= *target.Spec.Replicas {
		s.r.errorf(o.file, "%s: minAvailable %d with %d replicas blocks every node drain", o, m.IntVal, *target.Spec.Replicas)
	}
}

func (s *k8sSet) checkScaleTarget(o object, kind, name string) {
	if kind != "" && kind != "Deployment" {
		s.r.errorf(o.file, "%s: scaleTargetRef.kind %q, want Deployment", o, kind)
	}
	d, ok := find[*appsv1.Deployment](s, name)
	if !ok {
		s.r.errorf(o.file, "%s: scaleTargetRef %q: no such Deployment", o, name)
		return
	}
	if component(d) != "worker" {
		s.r.errorf(o.file, "%s: scales %s, which does not run the worker", o, name)
	}
	if d.Spec.Replicas != nil {
		s.r.errorf(s.fileOf(d), "Deployment/%s: leave spec.replicas unset: it is autoscaled, and every apply would reset it", name)
	}
}

func (s *k8sSet) checkScaledObject(o object, so *scaledObject) {
	if so.Spec.ScaleTargetRef == nil {
		s.r.errorf(o.file, "%s: spec.scaleTargetRef is required", o)
	} else {
		s.checkScaleTarget(o, so.Spec.ScaleTargetRef.Kind, so.Spec.ScaleTargetRef.Name)
	}
	minR, maxR := int32(0), int32(100) // KEDA's defaults
	if so.Spec.MinReplicaCount != nil {
		minR = *so.Spec.MinReplicaCount
	}
	if so.Spec.MaxReplicaCount != nil {
		maxR = *so.Spec.MaxReplicaCount
	}
	if minR < 0 || minR > maxR {
		s.r.errorf(o.file, "%s: minReplicaCount %d and maxReplicaCount %d", o, minR, maxR)
	}
	ns := ""
	if cm, ok := s.configFor("worker"); ok {
		ns = cm.Data["QUEUE_NAMESPACE"]
	}
	want := map[string]bool{}
	for _, q := range queues {
		want["asynq:{"+queueName(ns, q)+"}:pending"] = true
	}
	got := map[string]bool{}
	if len(so.Spec.Triggers) == 0 {
		s.r.errorf(o.file, "%s: no triggers", o)
	}
	for i, t := range so.Spec.Triggers {
		where := fmt.Sprintf("%s trigger %d (%s)", o, i+1, t.Name)
		keys := map[string]map[string]bool{"redis": redisTriggerKeys, "redis-sentinel": redisSentinelTriggerKeys}[t.Type]
		if keys == nil {
			s.r.errorf(o.file, "%s: type %q: the check knows the redis and redis-sentinel scalers only", where, t.Type)
			continue
		}
		for k := range t.Metadata {
			if !keys[k] {
				s.r.errorf(o.file, "%s: metadata.%s is not a key of KEDA's %s scaler", where, k, t.Type)
			}
		}
		md := t.Metadata
		if t.Type == "redis" && md["address"] == "" && md["addressFromEnv"] == "" && md["host"] == "" && md["hostFromEnv"] == "" {
			s.r.errorf(o.file, "%s: set metadata.address (host:port of REDIS_URL)", where)
		}
		if t.Type == "redis-sentinel" && md["addresses"] == "" && md["addressesFromEnv"] == "" && md["hosts"] == "" && md["hostsFromEnv"] == "" {
			s.r.errorf(o.file, "%s: set metadata.addresses (the Sentinels of REDIS_URL)", where)
		}
		if u, ok := s.redisURL(); ok {
			want := map[string]string{"redis": "redis", "rediss": "redis", "redis-sentinel": "redis-sentinel"}[u.Scheme]
			if t.Type != want {
				s.r.errorf(o.file, "%s: type %s, but REDIS_URL is %s:// (use the %s scaler)", where, t.Type, u.Scheme, want)
			}
			if a := md["address"]; t.Type == "redis" && a != "" && a != u.Host {
				s.r.errorf(o.file, "%s: metadata.address %q, but REDIS_URL points at %q", where, a, u.Host)
			}
			tlsURL := u.Scheme == "rediss" || u.Query().Get("tls") == "true"
			if tls := md["enableTLS"] == "true"; tls != tlsURL {
				s.r.errorf(o.file, "%s: metadata.enableTLS %q does not fit REDIS_URL (TLS %t)", where, md["enableTLS"], tlsURL)
			}
		}
		name := md["listName"]
		switch {
		case !want[name]:
			s.r.errorf(o.file, "%s: listName %q is not a pending list of the queues with QUEUE_NAMESPACE=%q (want one of %s)", where, name, ns, strings.Join(sortedKeys(want), ", "))
		case got[name]:
			s.r.errorf(o.file, "%s: listName %q twice", where, name)
		}
		got[name] = true
		for _, k := range []string{"listLength", "activationListLength", "databaseIndex"} {
			if v, ok := md[k]; ok {
				if n, err := strconv.Atoi(v); err != nil || n < 0 || (k == "listLength" && n == 0) {
					s.r.errorf(o.file, "%s: metadata.%s %q: want a whole number", where, k, v)
				}
			}
		}
		for _, k := range []string{"enableTLS", "unsafeSsl"} {
			if v, ok := md[k]; ok {
				if _, err := strconv.ParseBool(v); err != nil {
					s.r.errorf(o.file, "%s: metadata.%s %q: want \"true\" or \"false\"", where, k, v)
				}
			}
		}
		if ref := t.AuthenticationRef; ref != nil {
			if ref.Kind != "" && ref.Kind != "TriggerAuthentication" {
				s.r.errorf(o.file, "%s: authenticationRef.kind %q: the check knows TriggerAuthentication only", where, ref.Kind)
			} else if _, ok := find[*triggerAuthentication](s, ref.Name); !ok {
				s.r.errorf(o.file, "%s: authenticationRef %q: no such TriggerAuthentication", where, ref.Name)
			}
		}
	}
	for name := range want {
		if !got[name] {
			s.r.errorf(o.file, "%s: no trigger watches %q: that queue would not scale the workers", o, name)
		}
	}
}

// redisURL returns REDIS_URL from the worker's Secret (the example's
// placeholder), when there is one.
func (s *k8sSet) redisURL() (*url.URL, bool) {
	d := s.deploymentOf("worker")
	if d == nil {
		return nil, false
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name != "REDIS_URL" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			sec, ok := find[*corev1.Secret](s, e.ValueFrom.SecretKeyRef.Name)
			if !ok {
				return nil, false
			}
			u, err := url.Parse(secretKeys(sec)[e.ValueFrom.SecretKeyRef.Key])
			return u, err == nil && u.Host != ""
		}
	}
	return nil, false
}

// configFor returns the ConfigMap a component's Deployment loads with envFrom.
func (s *k8sSet) configFor(comp string) (*corev1.ConfigMap, bool) {
	d := s.deploymentOf(comp)
	if d == nil {
		return nil, false
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				return find[*corev1.ConfigMap](s, ef.ConfigMapRef.Name)
			}
		}
	}
	return nil, false
}

func (s *k8sSet) checkTriggerAuth(o object, ta *triggerAuthentication) {
	for _, t := range ta.Spec.SecretTargetRef {
		if !redisAuthParams[t.Parameter] {
			s.r.errorf(o.file, "%s: parameter %q is not one of the redis scaler's", o, t.Parameter)
		}
		sec, ok := find[*corev1.Secret](s, t.Name)
		if !ok {
			s.r.errorf(o.file, "%s: secretTargetRef %q: no such Secret", o, t.Name)
		} else if !hasKey(secretKeys(sec), t.Key) {
			s.r.errorf(o.file, "%s: Secret %s has no key %q", o, t.Name, t.Key)
		}
	}
}

func (s *k8sSet) checkHPA(o object, h *autoscalingv2.HorizontalPodAutoscaler) {
	s.checkScaleTarget(o, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
	minR := int32(1)
	if h.Spec.MinReplicas != nil {
		minR = *h.Spec.MinReplicas
	}
	if minR < 1 || minR > h.Spec.MaxReplicas {
		s.r.errorf(o.file, "%s: minReplicas %d and maxReplicas %d", o, minR, h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) == 0 {
		s.r.errorf(o.file, "%s: no metrics", o)
	}
	if d, ok := find[*appsv1.Deployment](s, h.Spec.ScaleTargetRef.Name); ok {
		for _, m := range h.Spec.Metrics {
			if m.Resource == nil {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
					s.r.errorf(o.file, "%s: %s utilization needs resources.requests.%s on container %s", o, m.Resource.Name, m.Resource.Name, c.Name)
				}
			}
		}
	}
}

func (s *k8sSet) checkScrapeAuth(o object, a *monitoringv1.SafeAuthorization) {
	if a == nil || a.Credentials == nil {
		s.r.errorf(o.file, "%s: /metrics needs authorization.credentials (the METRICS_TOKEN key of the Secret)", o)
		return
	}
	sec, ok := find[*corev1.Secret](s, a.Credentials.Name)
	switch {
	case !ok:
		s.r.errorf(o.file, "%s: authorization.credentials: no Secret %q", o, a.Credentials.Name)
	case a.Credentials.Key != "METRICS_TOKEN":
		s.r.errorf(o.file, "%s: authorization.credentials.key %q, want METRICS_TOKEN", o, a.Credentials.Key)
	case !hasKey(secretKeys(sec), a.Credentials.Key):
		s.r.errorf(o.file, "%s: Secret %s has no key %q", o, a.Credentials.Name, a.Credentials.Key)
	}
}

func (s *k8sSet) checkServiceMonitor(o object, sm *monitoringv1.ServiceMonitor) {
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() {
		s.r.errorf(o.file, "%s: spec.selector is empty or invalid", o)
		return
	}
	var svcs []*corev1.Service
	for _, svc := range all[*corev1.Service](s) {
		if sel.Matches(labels.Set(svc.Labels)) {
			svcs = append(svcs, svc)
		}
	}
	if len(svcs) == 0 {
		s.r.errorf(o.file, "%s: selector matches no Service's labels", o)
	}
	for _, ep := range sm.Spec.Endpoints {
		for _, svc := range svcs {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				s.r.errorf(o.file, "%s: endpoint port %q is no port name of Service %s", o, ep.Port, svc.Name)
			}
		}
		if ep.Path != "/metrics" {
			s.r.errorf(o.file, "%s: endpoint path %q, want /metrics", o, ep.Path)
		}
		s.checkScrapeAuth(o, ep.Authorization)
	}
}

func (s *k8sSet) checkPodMonitor(o object, pm *monitoringv1.PodMonitor) {
	var targets []*appsv1.Deployment
	for _, d := range all[*appsv1.Deployment](s) {
		if podMatches(&pm.Spec.Selector, d) {
			targets = append(targets, d)
		}
	}
	if len(targets) == 0 {
		s.r.errorf(o.file, "%s: selector matches no Deployment's pods", o)
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		port := ""
		if ep.Port != nil {
			port = *ep.Port
		}
		for _, d := range targets {
			found := false
			for _, c := range d.Spec.Template.Spec.Containers {
				if _, ok := resolvePort(intstr.FromString(port), c.Ports); ok {
					found = true
				}
			}
			if !found {
				s.r.errorf(o.file, "%s: endpoint port %q is no container port name of Deployment %s", o, port, d.Name)
			}
		}
		if ep.Path != "/metrics" {
			s.r.errorf(o.file, "%s: endpoint path %q, want /metrics", o, ep.Path)
		}
		s.checkScrapeAuth(o, ep.Authorization)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
