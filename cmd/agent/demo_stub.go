//go:build nodemo

package main

import (
	"fmt"
	"io"
)

// demoNotBuilt is what ferry demo prints in a binary built with -tags
// nodemo, as the image's is.
const demoNotBuilt = `ferry demo: this binary is built without the demo (-tags nodemo, as the image is):
its in-process Kafka broker, second Kafka client and simulated node are left out
of the binary that runs on every node. Run the demo from a checkout of the
repository:

  go run ./cmd/agent demo
`

func cmdDemo(_ []string, _, stderr io.Writer) int {
	fmt.Fprint(stderr, demoNotBuilt)
	return 1
}
