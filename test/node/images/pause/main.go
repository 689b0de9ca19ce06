// Command pause is the pod sandbox ("pause") image of the node test: it holds
// the pod's namespaces and does nothing until it is told to stop. No registry
// is reachable where the test runs, so the usual registry.k8s.io/pause image
// cannot be pulled; hack/node.sh builds this one FROM scratch.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// As PID 1 a process gets no default signal handling: stop on the
	// signals the runtime sends.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
