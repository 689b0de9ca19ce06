package chart

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// renderings are the default values and every ci/*-values.yaml.
func renderings(t *testing.T) map[string][]string {
	r := map[string][]string{"default": nil}
	for _, f := range ciValues(t) {
		r[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = []string{"-f", f}
	}
	return r
}

// TestEveryRendering decodes every manifest of every rendering strictly and
// checks the properties the chart promises whatever the values.
func TestEveryRendering(t *testing.T) {
	for name, args := range renderings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := render(t, args...)
			cfg, _ := configOf(t, m)
			checkPodSecurity(t, m)
			checkHostMounts(t, m, cfg)
			checkRBAC(t, m, cfg)
			checkEnv(t, m)
			checkProbesAndPort(t, m, cfg)
			checkShutdown(t, m, cfg)
			checkNamespaces(t, m)
			checkMonitoring(t, m)
		})
	}
}

func theContainer(t *testing.T, m *manifests) corev1.Container {
	t.Helper()
	cs := m.DaemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("want one container, have %d", len(cs))
	}
	if ics := m.DaemonSet.Spec.Template.Spec.InitContainers; len(ics) != 0 {
		t.Fatalf("no init containers expected (each would need its own checks), have %d", len(ics))
	}
	return cs[0]
}

func checkPodSecurity(t *testing.T, m *manifests) {
	t.Helper()
	spec := m.DaemonSet.Spec.Template.Spec
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("host namespaces shared: hostNetwork=%v hostPID=%v hostIPC=%v", spec.HostNetwork, spec.HostPID, spec.HostIPC)
	}
	if spec.HostUsers != nil && !*spec.HostUsers {
		t.Errorf("hostUsers: false set by default; it changes file ownership semantics the chart relies on")
	}
	c := theContainer(t, m)
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Errorf("privileged must be explicitly false, is %v", ptrString(sc.Privileged))
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation must be false, is %v", ptrString(sc.AllowPrivilegeEscalation))
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem must be true, is %v", ptrString(sc.ReadOnlyRootFilesystem))
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities must drop ALL, are %+v", sc.Capabilities)
	}
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Add {
			if c != "DAC_READ_SEARCH" {
				t.Errorf("capability %s added; only DAC_READ_SEARCH (reading log files) is ever acceptable", c)
			}
		}
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && spec.SecurityContext != nil {
		seccomp = spec.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile must be RuntimeDefault, is %+v", seccomp)
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		t.Errorf("procMount %s", *sc.ProcMount)
	}
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			t.Errorf("port %s binds host port %d", p.Name, p.HostPort)
		}
	}
}

func ptrString(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

// checkHostMounts: every hostPath is one the chart documents; every mount of a
// host path is read-only except the state directory, which is mounted at the
// config's state_dir; nothing propagates back to the host.
func checkHostMounts(t *testing.T, m *manifests, cfg agentConfig) {
	t.Helper()
	spec := m.DaemonSet.Spec.Template.Spec
	c := theContainer(t, m)
	type want struct {
		hostPath, mountPath string
		typ                 corev1.HostPathType
		writable            bool
		propagation         corev1.MountPropagationMode
	}
	wants := map[string]want{
		"proc":   {"/proc", "/host/proc", corev1.HostPathDirectory, false, ""},
		"sys":    {"/sys", "/host/sys", corev1.HostPathDirectory, false, ""},
		"root":   {"/", "/host/root", corev1.HostPathDirectory, false, corev1.MountPropagationHostToContainer},
		"varlog": {"/var/log", "/var/log", corev1.HostPathDirectory, false, ""},
		"state":  {"/var/lib/ferry", cfg.StateDir, corev1.HostPathDirectoryOrCreate, true, ""},
	}
	host := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		host[v.Name] = true
		w, ok := wants[v.Name]
		if !ok {
			t.Errorf("unexpected hostPath volume %s (%s)", v.Name, v.HostPath.Path)
			continue
		}
		if v.HostPath.Path != w.hostPath {
			t.Errorf("volume %s: host path %s, want %s", v.Name, v.HostPath.Path, w.hostPath)
		}
		var typ corev1.HostPathType = "unset"
		if v.HostPath.Type != nil {
			typ = *v.HostPath.Type
		}
		if typ != w.typ {
			t.Errorf("volume %s: type %s, want %s", v.Name, typ, w.typ)
		}
	}
	// /host/root is optional (hostPaths.root: ""); the others are not.
	if len(host) != len(wants) && !(len(host) == len(wants)-1 && !host["root"]) {
		t.Errorf("hostPath volumes %v, want %v", keys(host), keys(wants))
	}
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounted[vm.Name] = true
		if vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationBidirectional {
			t.Errorf("mount %s propagates to the host (Bidirectional)", vm.Name)
		}
		w, isHost := wants[vm.Name]
		if !isHost {
			// ConfigMap, Secret and the like: read-only as well.
			if !vm.ReadOnly {
				t.Errorf("mount %s at %s is writable; only the state directory may be", vm.Name, vm.MountPath)
			}
			continue
		}
		if vm.MountPath != w.mountPath {
			t.Errorf("mount %s at %s, want %s", vm.Name, vm.MountPath, w.mountPath)
		}
		if vm.ReadOnly == w.writable {
			t.Errorf("mount %s: readOnly=%v, want %v", vm.Name, vm.ReadOnly, !w.writable)
		}
		var prop corev1.MountPropagationMode = corev1.MountPropagationNone
		if vm.MountPropagation != nil {
			prop = *vm.MountPropagation
		}
		switch {
		case prop == corev1.MountPropagationNone && w.propagation == "":
		case prop == w.propagation:
		case vm.Name == "root" && prop == corev1.MountPropagationNone: // hostPaths.rootPropagation: None
		default:
			t.Errorf("mount %s: propagation %q, want %q", vm.Name, prop, w.propagation)
		}
		// Read-only without propagation is read-only all the way down: the
		// host's sub-mounts must not stay writable underneath.
		rro := vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly != corev1.RecursiveReadOnlyDisabled
		if !w.writable && prop == corev1.MountPropagationNone && !rro {
			t.Errorf("mount %s: read-only but not recursively (recursiveReadOnly %v)", vm.Name, vm.RecursiveReadOnly)
		}
		if rro && prop != corev1.MountPropagationNone {
			t.Errorf("mount %s: recursiveReadOnly needs propagation None", vm.Name)
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			t.Errorf("mount %s uses a subPath of a host path", vm.Name)
		}
	}
	for name := range wants {
		if !mounted[name] && host[name] {
			t.Errorf("host volume %s is not mounted", name)
		}
	}
}

// rulesFile reads files/rbac-rules.yaml strictly into PolicyRules.
func rulesFile(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "files", "rbac-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	if err := strictUnmarshal(b, &rules); err != nil {
		t.Fatalf("files/rbac-rules.yaml: %v", err)
	}
	if len(rules) == 0 {
		t.Fatal("files/rbac-rules.yaml holds no rules")
	}
	return rules
}

var namespacesRule = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}}

func checkRBAC(t *testing.T, m *manifests, cfg agentConfig) {
	t.Helper()
	if m.ClusterRole == nil || m.ClusterRoleBinding == nil || m.ServiceAccount == nil {
		t.Fatalf("want ClusterRole, ClusterRoleBinding and ServiceAccount; have kinds %v", m.Kinds)
	}
	want := rulesFile(t)
	if cfg.Kubernetes.NamespaceLabels {
		want = append(want, namespacesRule)
	}
	if diff := cmp.Diff(want, m.ClusterRole.Rules); diff != "" {
		t.Errorf("ClusterRole rules differ from files/rbac-rules.yaml (+namespaces iff namespace_labels) (-want +got):\n%s", diff)
	}
	// Whatever the file says, the agent only reads, and never secrets.
	for _, r := range m.ClusterRole.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("rule %+v grants %q", r, v)
			}
		}
		for _, res := range r.Resources {
			if res == "*" || res == "secrets" {
				t.Errorf("rule %+v grants %s", r, res)
			}
		}
		if len(r.NonResourceURLs) != 0 {
			t.Errorf("rule %+v grants non-resource URLs", r)
		}
	}
	b := m.ClusterRoleBinding
	if b.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: m.ClusterRole.Name}) {
		t.Errorf("binding refers to %+v", b.RoleRef)
	}
	wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: m.ServiceAccount.Name, Namespace: namespace}}
	if diff := cmp.Diff(wantSubj, b.Subjects); diff != "" {
		t.Errorf("binding subjects (-want +got):\n%s", diff)
	}
	spec := m.DaemonSet.Spec.Template.Spec
	if spec.ServiceAccountName != m.ServiceAccount.Name {
		t.Errorf("pod runs as service account %q, chart creates %q", spec.ServiceAccountName, m.ServiceAccount.Name)
	}
	if sa := m.ServiceAccount.AutomountServiceAccountToken; sa == nil || *sa {
		t.Errorf("ServiceAccount must not automount its token for every pod; the DaemonSet opts in")
	}
	if got := spec.AutomountServiceAccountToken; got == nil || *got != cfg.kubernetesEnabled() {
		t.Errorf("pod automountServiceAccountToken = %s, want %v (only enrichment needs the token)", ptrString(got), cfg.kubernetesEnabled())
	}
}

// checkEnv: node name from the downward API, the memory limit in bytes for the
// agent's GOMEMLIMIT, no GOMEMLIMIT of the full limit, and secrets only by
// reference.
func checkEnv(t *testing.T, m *manifests) {
	t.Helper()
	c := theContainer(t, m)
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		env[e.Name] = e
	}
	nn := env["NODE_NAME"]
	if nn.ValueFrom == nil || nn.ValueFrom.FieldRef == nil || nn.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME must come from fieldRef spec.nodeName, is %+v", nn)
	}
	ml, ok := env["FERRY_MEMORY_LIMIT"]
	if !ok || ml.ValueFrom == nil || ml.ValueFrom.ResourceFieldRef == nil {
		t.Fatalf("FERRY_MEMORY_LIMIT must come from a resourceFieldRef, is %+v", ml)
	}
	rf := ml.ValueFrom.ResourceFieldRef
	if rf.Resource != "limits.memory" || rf.ContainerName != c.Name || rf.Divisor.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("FERRY_MEMORY_LIMIT: want limits.memory of %s in bytes (divisor 1), have %+v", c.Name, rf)
	}
	if _, ok := env["GOMEMLIMIT"]; ok {
		t.Errorf("GOMEMLIMIT set by the chart; the agent derives it (90%%) from FERRY_MEMORY_LIMIT")
	}
	lim, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok || lim.IsZero() {
		t.Errorf("no memory limit: FERRY_MEMORY_LIMIT would be the node's allocatable memory")
	}
	req := c.Resources.Requests[corev1.ResourceMemory]
	if ok && req.Cmp(lim) > 0 {
		t.Errorf("memory request %s above limit %s", req.String(), lim.String())
	}
	for _, e := range c.Env {
		if strings.Contains(strings.ToUpper(e.Name), "PASSWORD") && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s must come from a secretKeyRef", e.Name)
		}
	}
}

var passwordLine = regexp.MustCompile(`(?m)^\s*password:\s*(.*)$`)

func checkProbesAndPort(t *testing.T, m *manifests, cfg agentConfig) {
	t.Helper()
	c := theContainer(t, m)
	port, err := cfg.httpPort()
	if err != nil {
		t.Fatal(err)
	}
	var http *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "http" {
			http = &c.Ports[i]
		}
	}
	if http == nil || http.ContainerPort != port {
		t.Fatalf("container port http = %+v, want %d from http.listen %q", http, port, cfg.HTTP.Listen)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want httpGet, have %+v", p.name, p.probe)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "http" {
			t.Errorf("%s probe: GET %s on %s, want %s on http", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	// The default is configUpdate: reload: the ConfigMap's directory is
	// mounted (a subPath mount never sees the kubelet's updates) and the
	// agent reads the file in it.
	if got := c.Args; !slices.Equal(got, []string{"run", "--config", "/etc/ferry/config/config.yaml"}) {
		t.Errorf("args %q", got)
	}
	var cfgMount bool
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == "/etc/ferry/config" && vm.Name == "config" && vm.ReadOnly && vm.SubPath == "" {
			cfgMount = true
		}
	}
	if !cfgMount {
		t.Error("config directory is not mounted read-only (no subPath) at /etc/ferry/config")
	}
	if _, ok := m.DaemonSet.Spec.Template.Annotations["checksum/config"]; ok {
		t.Error("reload mode has a checksum/config annotation: a config change would roll the pods")
	}
}

func checkShutdown(t *testing.T, m *manifests, cfg agentConfig) {
	t.Helper()
	g := m.DaemonSet.Spec.Template.Spec.TerminationGracePeriodSeconds
	if g == nil || float64(*g) <= cfg.ShutdownTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown_timeout %s", g, cfg.ShutdownTimeout)
	}
	us := m.DaemonSet.Spec.UpdateStrategy
	if us.Type != "RollingUpdate" || us.RollingUpdate == nil || us.RollingUpdate.MaxUnavailable == nil {
		t.Errorf("updateStrategy %+v: want RollingUpdate with maxUnavailable", us)
	}
}

func checkNamespaces(t *testing.T, m *manifests) {
	t.Helper()
	for _, o := range []struct{ kind, ns string }{
		{"DaemonSet", m.DaemonSet.Namespace},
		{"ServiceAccount", m.ServiceAccount.Namespace},
		{"ConfigMap", m.ConfigMaps[release].Namespace},
	} {
		if o.ns != namespace {
			t.Errorf("%s in namespace %q, want %q", o.kind, o.ns, namespace)
		}
	}
	if m.ClusterRole.Namespace != "" || m.ClusterRoleBinding.Namespace != "" {
		t.Error("cluster-scoped objects carry a namespace")
	}
	sel := m.DaemonSet.Spec.Selector.MatchLabels
	for k, v := range sel {
		if m.DaemonSet.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template", k, v)
		}
	}
}

// TestDefaults pins the default values a platform team reviews.
func TestDefaults(t *testing.T) {
	m := render(t)
	spec := m.DaemonSet.Spec.Template.Spec
	if diff := cmp.Diff([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	if spec.PriorityClassName != "" {
		t.Errorf("priorityClassName %q by default", spec.PriorityClassName)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("terminationGracePeriodSeconds %v, want 30", g)
	}
	c := theContainer(t, m)
	if sc := c.SecurityContext; len(sc.Capabilities.Add) != 0 {
		t.Errorf("default adds capabilities %v", sc.Capabilities.Add)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 {
		t.Errorf("pod security context %+v: want runAsUser 0 (owner of the log files), as values.yaml explains", psc)
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if diff := cmp.Diff(want.Requests.Memory().String(), c.Resources.Requests.Memory().String()); diff != "" {
		t.Errorf("memory request: %s", diff)
	}
	if c.Resources.Requests.Cpu().Cmp(*want.Requests.Cpu()) != 0 || c.Resources.Limits.Memory().Cmp(*want.Limits.Memory()) != 0 {
		t.Errorf("resources %+v, want %+v", c.Resources, want)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("a CPU limit by default throttles bursts; leave it to the operator")
	}
	if m.ServiceMonitor != nil || m.PodMonitor != nil || m.PrometheusRule != nil || len(m.Services) != 0 {
		t.Errorf("monitoring objects rendered by default: kinds %v (they need prometheus-operator's CRDs)", m.Kinds)
	}
	if _, ok := m.ConfigMaps[release+"-dashboard"]; !ok {
		t.Errorf("no dashboard ConfigMap by default; kinds %v", m.Kinds)
	}
	var rootMount bool
	for _, vm := range c.VolumeMounts {
		if vm.Name == "root" && vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationHostToContainer {
			rootMount = true
		}
	}
	if !rootMount {
		t.Error("by default / is mounted at /host/root with HostToContainer propagation")
	}
	if _, ok := spec.NodeSelector["kubernetes.io/os"]; !ok {
		t.Errorf("nodeSelector %v: want kubernetes.io/os", spec.NodeSelector)
	}
	cfg, text := configOf(t, m)
	if cfg.NodeName != "${NODE_NAME}" || cfg.StateDir != "/var/lib/ferry" || cfg.ShutdownTimeout.String() != "20s" || cfg.HTTP.Listen != ":2020" || cfg.HTTP.Pprof {
		t.Errorf("default config: node_name %q state_dir %q shutdown_timeout %s listen %q pprof %v", cfg.NodeName, cfg.StateDir, cfg.ShutdownTimeout, cfg.HTTP.Listen, cfg.HTTP.Pprof)
	}
	if cfg.HostMetrics.Proc != "/host/proc" || cfg.HostMetrics.Sys != "/host/sys" || cfg.HostMetrics.RootFS != "/host/root" {
		t.Errorf("hostmetrics paths %+v do not match the mounts", cfg.HostMetrics)
	}
	if !strings.Contains(text, "namespace_labels: false") {
		t.Errorf("namespace_labels not rendered:\n%s", text)
	}
}

// TestRBACNamespaces: namespaces appear in the ClusterRole exactly when
// namespace labels are on, whether set structurally or in a raw config.
func TestRBACNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"off", nil, false},
		{"on", []string{"--set", "config.kubernetes.namespace_labels=true"}, true},
		{"raw string on", []string{"--set-string", "config.raw=kubernetes: {namespace_labels: true}\nsink: {kafka: {brokers: [k:9092]}}"}, true},
		{"raw string off", []string{"--set-string", "config.raw=kubernetes: {enabled: true}\nsink: {kafka: {brokers: [k:9092]}}"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, tc.args...)
			has := slices.ContainsFunc(m.ClusterRole.Rules, func(r rbacv1.PolicyRule) bool { return cmp.Equal(r, namespacesRule) })
			if has != tc.want {
				t.Errorf("namespaces rule present = %v, want %v; rules %+v", has, tc.want, m.ClusterRole.Rules)
			}
			cfg, _ := configOf(t, m)
			checkRBAC(t, m, cfg)
		})
	}
}

// TestChecksumRollsPods: the checksum/config annotation changes exactly when
// the rendered config changes.
func TestChecksumRollsPods(t *testing.T) {
	sum := func(args ...string) string {
		t.Helper()
		m := render(t, append([]string{"--set", "configUpdate=rollout"}, args...)...)
		if got := m.DaemonSet.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"run", "--config", "/etc/ferry/config.yaml"}) {
			t.Fatalf("rollout args %q", got)
		}
		s := m.DaemonSet.Spec.Template.Annotations["checksum/config"]
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s) {
			t.Fatalf("checksum/config %q is not a sha256", s)
		}
		return s
	}
	base := sum()
	if again := sum(); again != base {
		t.Fatalf("checksum not deterministic: %s then %s", base, again)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		changes bool
	}{
		{"log level", []string{"--set", "config.log.level=debug"}, true},
		{"brokers", []string{"--set", "config.sink.kafka.brokers={k1:9092,k2:9092}"}, true},
		{"raw", []string{"--set-string", "config.raw=sink: {kafka: {brokers: [k:9092]}}"}, true},
		{"pod label only", []string{"--set", "podLabels.team=platform"}, false},
		{"resources only", []string{"--set", "resources.limits.memory=512Mi"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sum(tc.args...)
			if (got != base) != tc.changes {
				t.Errorf("checksum changed = %v, want %v", got != base, tc.changes)
			}
		})
	}
}

// TestSecretsStayOutOfTheConfigMap: TLS and SASL are wired through Secrets.
func TestSecretsStayOutOfTheConfigMap(t *testing.T) {
	m := render(t, "-f", filepath.Join(chartDir(t), "ci", "tls-sasl-values.yaml"))
	cfg, text := configOf(t, m)
	for _, mm := range passwordLine.FindAllStringSubmatch(text, -1) {
		if v := strings.Trim(mm[1], `"' `); v != "" && !regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`).MatchString(v) {
			t.Errorf("password in the ConfigMap: %q", v)
		}
	}
	if cfg.Sink.Kafka.SASL.Password != "${KAFKA_PASSWORD}" {
		t.Errorf("sasl.password %q, want ${KAFKA_PASSWORD}", cfg.Sink.Kafka.SASL.Password)
	}
	c := theContainer(t, m)
	var pw *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "KAFKA_PASSWORD" {
			pw = &c.Env[i]
		}
	}
	if pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
		pw.ValueFrom.SecretKeyRef.Name != "ferry-kafka-credentials" || pw.ValueFrom.SecretKeyRef.Key != "password" {
		t.Fatalf("KAFKA_PASSWORD: %+v", pw)
	}
	var tlsVol *corev1.Volume
	for i, v := range m.DaemonSet.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			tlsVol = &m.DaemonSet.Spec.Template.Spec.Volumes[i]
		}
	}
	if tlsVol == nil || tlsVol.Secret.SecretName != "ferry-kafka-tls" {
		t.Fatalf("TLS secret volume: %+v", tlsVol)
	}
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if vm.Name == tlsVol.Name {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("TLS secret mount: %+v", mount)
	}
	for _, f := range []string{cfg.Sink.Kafka.TLS.CAFile, cfg.Sink.Kafka.TLS.CertFile, cfg.Sink.Kafka.TLS.KeyFile} {
		if !strings.HasPrefix(f, mount.MountPath+"/") {
			t.Errorf("TLS file %s is not inside the secret mount %s", f, mount.MountPath)
		}
	}
}

// TestValuesRejected: the schema and the chart's checks refuse typos, wrong
// types and unsafe settings, naming the field.
func TestValuesRejected(t *testing.T) {
	for _, tc := range []struct {
		name, mention string
		args          []string
	}{
		{"typo at top level", "tolerationz", []string{"--set", "tolerationz[0].operator=Exists"}},
		{"typo in config", "compresion", []string{"--set", "config.sink.kafka.compresion=zstd"}},
		{"typo in securityContext", "readOnlyRootFileSystem", []string{"--set", "securityContext.readOnlyRootFileSystem=true"}},
		{"wrong type", "hostNetwork", []string{"--set-string", "hostNetwork=yes"}},
		{"wrong enum", "compression", []string{"--set", "config.sink.kafka.compression=brotli"}},
		{"bad quantity", "memory", []string{"--set", "resources.limits.memory=lots"}},
		{"bad duration", "shutdown_timeout", []string{"--set", "config.shutdown_timeout=soon"}},
		{"grace below shutdown", "terminationGracePeriodSeconds", []string{"--set", "terminationGracePeriodSeconds=20"}},
		{"shutdown above grace", "terminationGracePeriodSeconds", []string{"--set", "config.shutdown_timeout=29.5s"}},
		{"shutdown in minutes above grace", "terminationGracePeriodSeconds", []string{"--set", "config.shutdown_timeout=1m"}},
		{"literal password", "password", []string{"--set", "config.sink.kafka.sasl.password=hunter2"}},
		{"sasl without secret", "kafka.passwordSecret.name", []string{"--set", "config.sink.kafka.sasl.mechanism=PLAIN"}},
		{"tls file without secret", "kafka.tlsSecret.name", []string{"--set", "config.sink.kafka.tls.ca_file=/etc/ferry/tls/ca.crt"}},
		{"two monitors", "podMonitor", []string{"--set", "metrics.podMonitor.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"}},
		{"descriptor cap too low", "max_open_files", []string{"--set", "config.logs.max_open_files=2"}},
		{"bad listen", "listen", []string{"--set", "config.http.listen=localhost"}},
		{"raw not yaml", "config.raw", []string{"--set-string", "config.raw=a: [b"}},
		{"bad maxUnavailable", "maxUnavailable", []string{"--set", "updateStrategy.rollingUpdate.maxUnavailable=lots"}},
		{"rollout that replaces nothing", "maxUnavailable", []string{"--set", "updateStrategy.rollingUpdate.maxUnavailable=0"}},
		{"rollout that replaces nothing, percent", "maxUnavailable", []string{"--set", "updateStrategy.rollingUpdate.maxUnavailable=0%"}},
		{"broker without port", "brokers", []string{"--set", "config.sink.kafka.brokers={kafka-0.kafka}"}},
		{"brokers emptied", "config.sink.kafka.brokers", []string{"--set", "config.sink.kafka.brokers=null"}},
		{"raw without brokers", "config.sink.kafka.brokers", []string{"--set-string", "config.raw=sink: {kafka: {topic: logs}}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, tc.args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want an error", tc.args)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error does not name %q:\n%v", tc.mention, err)
			}
		})
	}
}

// TestBrokersRequired: an install that names no Kafka broker fails at render
// time, naming the value to set, rather than installing agents that ship
// nowhere; a raw config with a debugging sink needs none.
func TestBrokersRequired(t *testing.T) {
	_, err := helmTemplateBare(t, release, namespace)
	if err == nil {
		t.Fatal("the chart rendered without any Kafka broker")
	}
	if !strings.Contains(err.Error(), "config.sink.kafka.brokers") || !strings.Contains(err.Error(), "--set") {
		t.Errorf("error does not say which value to set and how:\n%v", err)
	}
	m := render(t, "--set-string", "config.raw=sink: {stdout: {}}\nkubernetes: {enabled: false}")
	if cfg, _ := configOf(t, m); len(cfg.Sink.Kafka.Brokers) != 0 {
		t.Errorf("raw stdout config rendered brokers %v", cfg.Sink.Kafka.Brokers)
	}
}

// TestOptIns: host namespaces, priority and DAC_READ_SEARCH only when asked.
func TestOptIns(t *testing.T) {
	m := render(t, "--set", "hostNetwork=true", "--set", "hostPID=true", "--set", "priorityClassName=system-node-critical",
		"--set", "securityContext.capabilities.add={DAC_READ_SEARCH}")
	spec := m.DaemonSet.Spec.Template.Spec
	if !spec.HostNetwork || !spec.HostPID || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v hostPID %v dnsPolicy %s", spec.HostNetwork, spec.HostPID, spec.DNSPolicy)
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	c := theContainer(t, m)
	if diff := cmp.Diff([]corev1.Capability{"DAC_READ_SEARCH"}, c.SecurityContext.Capabilities.Add); diff != "" {
		t.Errorf("capabilities.add (-want +got):\n%s", diff)
	}
	if !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") {
		t.Error("adding a capability must keep drop ALL")
	}
	m = render(t, "--set", "hostPaths.root=")
	for _, v := range m.DaemonSet.Spec.Template.Spec.Volumes {
		if v.Name == "root" {
			t.Errorf("hostPaths.root empty still mounts %+v", v)
		}
	}
	cfg, _ := configOf(t, m)
	checkHostMounts(t, m, cfg)
	m = render(t, "--set", "config.kubernetes.enabled=false")
	if a := m.DaemonSet.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("token mounted although enrichment is off")
	}
}
