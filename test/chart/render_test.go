package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	release   = "ferry"
	namespace = "ferry-system"
)

// chartDir is charts/ferry, found from this file's location so that the test
// runs from any working directory.
func chartDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "charts", "ferry")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Fatalf("chart not found: %v", err)
	}
	return dir
}

func helmBin(t testing.TB) string {
	t.Helper()
	h := os.Getenv("FERRY_HELM")
	if h == "" {
		t.Fatal("FERRY_HELM is not set: run hack/helm.sh, which builds helm and runs these tests")
	}
	return h
}

// helmTemplate runs helm template over the chart with args (-f, --set ...) and
// returns its output, or its error with stderr.
func helmTemplate(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return helmTemplateAs(t, release, namespace, args...)
}

// requiredValues is testdata/required-values.yaml: what every install must set.
func requiredValues(t testing.TB) string {
	t.Helper()
	return filepath.Join(chartDir(t), "..", "..", "test", "chart", "testdata", "required-values.yaml")
}

// helmTemplateAs is helmTemplate with another release name and namespace.
// The required values come first, so args (-f and --set) override them.
func helmTemplateAs(t testing.TB, rel, ns string, args ...string) (string, error) {
	t.Helper()
	return helmTemplateBare(t, rel, ns, append([]string{"-f", requiredValues(t)}, args...)...)
}

// helmTemplateBare renders with args alone, without the required values.
func helmTemplateBare(t testing.TB, rel, ns string, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"template", rel, chartDir(t), "--namespace", ns}, args...)
	cmd := exec.Command(helmBin(t), all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %v: %s", strings.Join(all, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// manifests is one rendering, decoded strictly into the API types.
type manifests struct {
	DaemonSet          *appsv1.DaemonSet
	ServiceAccount     *corev1.ServiceAccount
	ConfigMaps         map[string]*corev1.ConfigMap
	Services           []*corev1.Service
	ClusterRole        *rbacv1.ClusterRole
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	ServiceMonitor     *monitoringv1.ServiceMonitor
	PodMonitor         *monitoringv1.PodMonitor
	PrometheusRule     *monitoringv1.PrometheusRule
	Kinds              []string
}

// render runs helm template and decodes every document strictly.
func render(t testing.TB, args ...string) *manifests {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// strictUnmarshal converts YAML to JSON refusing duplicate keys, then decodes it
// the way the API server does: case-sensitive, and unknown or duplicate fields
// are errors.
func strictUnmarshal(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func decodeAll(out string) (*manifests, error) {
	m := &manifests{ConfigMaps: map[string]*corev1.ConfigMap{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %q: %w", doc, err)
		}
		if head.Kind == "" {
			continue // a document holding only comments
		}
		id := head.APIVersion + "/" + head.Kind
		m.Kinds = append(m.Kinds, head.Kind)
		var target any
		switch id {
		case "apps/v1/DaemonSet":
			if m.DaemonSet != nil {
				return nil, errors.New("two DaemonSets")
			}
			m.DaemonSet = &appsv1.DaemonSet{}
			target = m.DaemonSet
		case "v1/ServiceAccount":
			m.ServiceAccount = &corev1.ServiceAccount{}
			target = m.ServiceAccount
		case "v1/ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := strictUnmarshal(doc, cm); err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			m.ConfigMaps[cm.Name] = cm
			continue
		case "v1/Service":
			s := &corev1.Service{}
			if err := strictUnmarshal(doc, s); err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			m.Services = append(m.Services, s)
			continue
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			m.ClusterRole = &rbacv1.ClusterRole{}
			target = m.ClusterRole
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			m.ClusterRoleBinding = &rbacv1.ClusterRoleBinding{}
			target = m.ClusterRoleBinding
		case "monitoring.coreos.com/v1/ServiceMonitor":
			m.ServiceMonitor = &monitoringv1.ServiceMonitor{}
			target = m.ServiceMonitor
		case "monitoring.coreos.com/v1/PodMonitor":
			m.PodMonitor = &monitoringv1.PodMonitor{}
			target = m.PodMonitor
		case "monitoring.coreos.com/v1/PrometheusRule":
			m.PrometheusRule = &monitoringv1.PrometheusRule{}
			target = m.PrometheusRule
		default:
			return nil, fmt.Errorf("unexpected kind %s: add it to the test with its assertions", id)
		}
		if err := strictUnmarshal(doc, target); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	if m.DaemonSet == nil {
		return nil, errors.New("no DaemonSet rendered")
	}
	return m, nil
}

// ciValues lists charts/ferry/ci/*-values.yaml.
func ciValues(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want at least 4 ci/*-values.yaml files, found %d", len(files))
	}
	return files
}
