package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// wiring is the one package that builds rooms for a pipeline. Tests and
// benchmarks of one room build that room themselves; no other program
// code does.
const wiring = "internal/pipeline"

// TestOneWiring fails when program code (not a test) outside the rooms and
// internal/pipeline calls a room's New: a second hand-made wiring, which a
// change of the pipeline's shape would leave behind (the agent, the demo
// and the benchmark all run internal/pipeline).
func TestOneWiring(t *testing.T) {
	var found []string
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || rel == wiring || isRoom(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		calls, err := roomNews(p)
		if err != nil {
			return err
		}
		for _, c := range calls {
			found = append(found, rel+": "+c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s builds a room outside %s: wire it through pipeline.New", f, wiring)
	}
}

// TestRoomNewsCatchesACall checks the rule's own logic on a file that
// breaks it, with the import renamed.
func TestRoomNewsCatchesACall(t *testing.T) {
	src := `package x
import (
	t "github.com/ferry-dev/ferry/pkg/tail"
	"github.com/ferry-dev/ferry/pkg/ship"
)
func f() { _, _ = t.New(t.Config{}, nil, nil, t.Options{}); _ = ship.DefaultConfig() }
`
	p := filepath.Join(t.TempDir(), "x.go")
	if err := writeFile(p, src); err != nil {
		t.Fatal(err)
	}
	got, err := roomNews(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "pkg/tail.New" {
		t.Fatalf("roomNews = %v, want [pkg/tail.New]", got)
	}
}

func isRoom(rel string) bool {
	for _, r := range rooms {
		if rel == r || strings.HasPrefix(rel, r+"/") {
			return true
		}
	}
	return false
}

// roomNews lists the calls <room>.New in a Go file, by the room's import
// path.
func roomNews(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	names := map[string]string{} // local name -> room
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		room, ok := strings.CutPrefix(p, module+"/")
		if !ok || !isRoom(room) || room != path.Clean(room) {
			continue
		}
		name := path.Base(room)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = room
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "New" {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok {
			if room, ok := names[id.Name]; ok {
				out = append(out, room+".New")
			}
		}
		return true
	})
	return out, nil
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
