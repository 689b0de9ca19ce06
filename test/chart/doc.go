// Package chart tests the Helm chart in charts/ferry: it renders the chart with
// helm (the binary named by FERRY_HELM; hack/helm.sh builds it and runs these
// tests), decodes every manifest strictly into the Kubernetes API types
// (unknown and duplicate fields fail) and asserts the chart's promises: least
// privilege, read-only host mounts except the state directory, RBAC exactly
// as files/rbac-rules.yaml, the GOMEMLIMIT wiring, a config that rolls the
// pods when it changes, and valid PromQL in the alerts and the dashboard.
//
// It is its own module so that the Kubernetes and Prometheus types it needs
// never weigh on the agent's build.
package chart
