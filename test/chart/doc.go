// Package chart tests the Helm chart in charts/ferry: it renders the chart with
// helm (the binary named by FERRY_HELM; hack/helm.sh builds it and runs these
// tests), decodes every manifest strictly into the Kubernetes API types
// (unknown and duplicate fields fail) and asserts the chart's promises: least
// privilege, read-only host mounts except the state directory, RBAC exactly
// as files/rbac-rules.yaml, the GOMEMLIMIT wiring, a config that rolls the
// pods when it changes, and valid PromQL in the alerts and the dashboard.
//
// With the agent binary (FERRY_BIN) it also runs `ferry validate` on every
// rendered config and runs the agent itself to prove that every metric the
// alerts and the dashboard query is one it serves. With a real kube-apiserver
// (FERRY_KUBECONFIG, from hack/kube-apiserver.sh) it applies every rendering
// with server-side dry-run, installs the RBAC objects for real and proves
// with SubjectAccessReviews and a minted service-account token that the
// agent can read pods (and namespaces only with namespace labels on) and
// nothing else. Without those variables these tests skip and say why.
//
// It is its own module so that the Kubernetes and Prometheus types it needs
// never weigh on the agent's build.
package chart
