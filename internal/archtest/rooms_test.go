// Package archtest keeps the repository's structural rules true.
package archtest

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/ferry-dev/ferry"

// rooms are the packages that never import each other; only internal/pipeline
// wires them, and the types that cross room lines live in pkg/event.
var rooms = []string{"pkg/tail", "pkg/enrich", "pkg/process", "pkg/ship", "pkg/hostmetrics"}

// TestRoomsDoNotImportEachOther fails when a room depends, directly or through
// another package, on a different room.
func TestRoomsDoNotImportEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, room := range rooms {
		t.Run(path.Base(room), func(t *testing.T) {
			deps := listDeps(t, room)
			for _, bad := range roomViolations(room, deps) {
				t.Errorf("%s depends on %s: rooms import only pkg/event and outside packages", room, bad)
			}
		})
	}
}

// TestRoomViolationsCatchesAnImport checks the rule's own logic on a
// dependency list that breaks it.
func TestRoomViolationsCatchesAnImport(t *testing.T) {
	deps := []string{module + "/pkg/event", module + "/pkg/ship", "fmt", module + "/pkg/tail/internal/x"}
	got := roomViolations("pkg/tail", deps)
	if len(got) != 1 || got[0] != module+"/pkg/ship" {
		t.Fatalf("violations = %v, want only %s/pkg/ship", got, module)
	}
}

func roomViolations(room string, deps []string) []string {
	var bad []string
	for _, d := range deps {
		for _, other := range rooms {
			if other == room {
				continue
			}
			p := module + "/" + other
			if d == p || strings.HasPrefix(d, p+"/") {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

// listDeps lists what a room depends on, its tests included; a room that
// does not exist (renamed, say) fails the test rather than passing it.
func listDeps(t *testing.T, room string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "./"+room+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", room, err)
	}
	var deps []string
	for _, line := range strings.Fields(string(out)) {
		// -test lists the room's own test variants ("pkg [pkg.test]"); keep package paths only.
		if strings.HasPrefix(line, "[") {
			continue
		}
		deps = append(deps, line)
	}
	return deps
}
