package archtest

// The documentation names files and code and quotes figures; these tests
// keep them true: every repository path a document names exists, every
// link and anchor leads somewhere, every Go name docs/ gives is declared,
// the README's performance figures are bench/README.md's, and the design
// document is named by its one name. cmd/agent's doctruth_test.go keeps the
// metric names and config keys true (it needs package main).

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// docs lists the documents whose claims are checked, relative to the
// repository (cmd/agent's doctruth_test.go reads the same list).
func docs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{
		"README.md", "CONTRIBUTING.md", "docs/*.md", "bench/README.md",
		"charts/ferry/README*", "pkg/*/doc.go", "pkg/*/README.md", "test/*/README.md",
	} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	for _, must := range []string{"README.md", "CONTRIBUTING.md", "docs/architecture.md", "pkg/tail/doc.go", "charts/ferry/README.md"} {
		if !slices.Contains(out, must) {
			t.Fatalf("%s not found: the document list is wrong", must)
		}
	}
	return out
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lineAt(s string, off int) int { return strings.Count(s[:off], "\n") + 1 }

func exists(rel string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
	return err == nil
}

// ---------------------------------------------------------------- paths

// tree is what the repository holds: its top-level entries and the base
// names of its files.
type tree struct {
	top   map[string]bool
	bases map[string]bool
}

func readTree(t *testing.T) tree {
	t.Helper()
	tr := tree{top: map[string]bool{}, bases: map[string]bool{}}
	for _, rel := range repoFiles(t) {
		first, _, _ := strings.Cut(rel, "/")
		tr.top[first] = true
		tr.bases[path.Base(rel)] = true
	}
	return tr
}

// repoFiles lists the repository's files (relative, with slashes): what git
// tracks plus new files it does not ignore, so that a cache or a build
// output in the work tree is not read; without git, every file but .git's.
func repoFiles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" && exists(f) { // a tracked file deleted in the work tree is gone
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// pathMention is a repository path a document names.
type pathMention struct {
	line int
	text string // as written
	path string // relative to the repository, cut before any glob or placeholder
	base bool   // a bare file name: it must exist somewhere in the tree
}

// fileExtensions are the kinds of file a bare name ("fair.go") is taken for.
var fileExtensions = []string{".go", ".md", ".sh", ".yaml"}

// nonFiles are bare names with those extensions that name no file of the
// repository, each with its reason.
var nonFiles = map[string]string{
	"main.go":     "the main.go hack/peers.sh writes for the Collector's build (bench/README.md)",
	"config.yaml": "the agent's config file in its container (/etc/ferry/config.yaml)",
	"bad.yaml":    "the invalid config the README's Configuration section shows",
}

var (
	linkRe  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	tokenRe = regexp.MustCompile("[^\\s`'\"(),;|=\\[\\]]+")
)

// pathMentions finds the repository paths a document names: words whose
// first part is a top-level entry of the repository (pkg/tail/doc.go,
// ./cmd/agent, hack/test.sh), paths relative to the document (a chart's
// values.yaml, ci/...), and bare file names. A path is checked up to its
// first glob or placeholder (pkg/<room>/*_test.go: pkg).
func pathMentions(doc, text string, tr tree) []pathMention {
	dir := path.Dir(doc)
	var out []pathMention
	for _, loc := range tokenRe.FindAllStringIndex(text, -1) {
		tok := text[loc[0]:loc[1]]
		if strings.Contains(tok, "://") || strings.HasPrefix(tok, "/") || strings.HasPrefix(tok, "$") {
			continue
		}
		word, _, _ := strings.Cut(tok, "#") // a link's anchor
		word = strings.TrimRight(strings.TrimPrefix(word, "./"), ".:")
		word = strings.TrimSuffix(word, "/")
		if word == "" || strings.HasPrefix(word, "../") {
			continue
		}
		written := strings.Split(word, "/")
		parts := slices.Clone(written)
		for i, p := range parts {
			if p == "..." || strings.ContainsAny(p, "*<>{}$") {
				parts = parts[:i]
				break
			}
		}
		if len(parts) == 0 {
			continue
		}
		m := pathMention{line: lineAt(text, loc[0]), text: tok}
		switch {
		case len(written) > 1 && tr.top[parts[0]]:
			m.path = strings.Join(parts, "/")
		case dir != "." && exists(path.Join(dir, parts[0])) && (len(parts) > 1 || strings.Contains(parts[0], ".")):
			m.path = path.Join(dir, strings.Join(parts, "/"))
		case len(written) == 1 && hasFileExtension(parts[0]):
			if _, ok := nonFiles[parts[0]]; ok {
				continue
			}
			m.path, m.base = parts[0], true
			if strings.HasSuffix(doc, "doc.go") {
				// A room's doc.go names its own files.
				m.path, m.base = path.Join(dir, parts[0]), false
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

func hasFileExtension(name string) bool {
	for _, ext := range fileExtensions {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) && name[0] != '.' {
			return true
		}
	}
	return false
}

// TestDocsNamePathsThatExist fails when a document names a repository file
// or directory that does not exist, or links to one.
func TestDocsNamePathsThatExist(t *testing.T) {
	tr := readTree(t)
	found := 0
	for _, doc := range docs(t) {
		text := read(t, doc)
		for _, m := range pathMentions(doc, text, tr) {
			found++
			if m.base {
				if !tr.bases[m.path] {
					t.Errorf("%s:%d: no file %s in the repository", doc, m.line, m.path)
				}
				continue
			}
			if !exists(m.path) {
				t.Errorf("%s:%d: %s names %s, which does not exist", doc, m.line, m.text, m.path)
			}
		}
		if strings.HasSuffix(doc, ".md") {
			for _, problem := range brokenLinks(doc, text) {
				t.Errorf("%s", problem)
			}
		}
	}
	if found < 100 {
		t.Errorf("only %d paths found in the documents: the scan is broken", found)
	}
}

// brokenLinks checks a markdown document's relative links: the file exists,
// and an anchor is a heading of the document linked to.
func brokenLinks(doc, text string) []string {
	var out []string
	for _, m := range linkRe.FindAllStringSubmatchIndex(text, -1) {
		target := text[m[2]:m[3]]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		where := doc
		if file != "" {
			where = path.Join(path.Dir(doc), file)
			if !exists(where) {
				out = append(out, doc+":"+strconv.Itoa(lineAt(text, m[0]))+": link to "+target+": no "+where)
				continue
			}
		}
		if anchor != "" && strings.HasSuffix(where, ".md") {
			b, err := os.ReadFile(filepath.Join(root, where))
			if err != nil {
				out = append(out, err.Error())
				continue
			}
			if !anchors(string(b))[anchor] {
				out = append(out, doc+":"+strconv.Itoa(lineAt(text, m[0]))+": link to "+target+": no heading of "+where+" has that anchor")
			}
		}
	}
	return out
}

// anchors lists a markdown document's heading anchors as GitHub makes them:
// lower case, punctuation but '-' and '_' removed, spaces as '-'.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && r != '×' && r != '÷' && r != '→':
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestPathRules checks the path scan on text that breaks it and text that
// names no path.
func TestPathRules(t *testing.T) {
	tr := tree{top: map[string]bool{"pkg": true, "hack": true}, bases: map[string]bool{"fair.go": true}}
	for _, c := range []struct {
		doc, text string
		want      []string
	}{
		{"README.md", "run `hack/test.sh`, see pkg/tail/doc.go.", []string{"hack/test.sh", "pkg/tail/doc.go"}},
		{"README.md", "`go test ./pkg/tail/` and pkg/<room>/*_test.go", []string{"pkg/tail", "pkg"}},
		{"README.md", "/var/log/pods/x, state_dir/tail.json, https://x/pkg/a, fair.go", []string{"fair.go"}},
		{"pkg/tail/doc.go", "// The code is in fair.go.", []string{"pkg/tail/fair.go"}},
	} {
		var got []string
		for _, m := range pathMentions(c.doc, c.text, tr) {
			got = append(got, m.path)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %q: paths %v, want %v", c.doc, c.text, got, c.want)
		}
	}
	if got := brokenLinks("README.md", "[a](docs/architecture.md) [b](#what-it-guarantees) [c](docs/none.md) [d](#no-such-heading)"); len(got) != 2 {
		t.Errorf("broken links %v, want the two last", got)
	}
	if a := anchors("### Processing (`-processing`, `-mode redaction`)\n"); !a["processing--processing--mode-redaction"] {
		t.Errorf("anchors = %v", a)
	}
}

// ---------------------------------------------------------------- figures

// figure is a number a document quotes, with the unit written after it.
type figure struct {
	text  string
	value float64
	prec  float64 // the step of its last digit: 0.01 for 4.10, 1e5 for 1.5 M
	unit  string  // "" when none is written
	line  int
}

var (
	numberRe = regexp.MustCompile(`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?`)
	// unitRe reads the unit after a number; the longest forms first.
	unitRe = regexp.MustCompile(`^\s?(CPU-s/GiB|CPU-s|CPU-seconds|MiB/s|MiB|GiB|KiB|MB|[kM] lines|lines/s|ms|min|s\b|%|×|x\b)`)
	spanRe = regexp.MustCompile("(?s)```.*?```|`[^`]*`")
)

func unitClass(u string) string {
	switch u {
	case "CPU-s/GiB", "CPU-s", "CPU-seconds":
		return "cpu-s"
	case "x":
		return "×"
	case "k lines", "M lines", "lines/s":
		return "lines"
	}
	return u
}

// figures finds the numbers of text: every number, or with all=false only
// the decimal numbers and the numbers with a unit. Versions (1.26.8,
// v0.165.1) and numbers inside names (2-vCPU's 2 is kept, x86's is not)
// are left out.
func figures(text string, all bool) []figure {
	var out []figure
	for _, loc := range numberRe.FindAllStringIndex(text, -1) {
		s, e := loc[0], loc[1]
		if s > 0 && (isWordByte(text[s-1]) || text[s-1] == '.') {
			continue
		}
		if e < len(text) && (isWordByte(text[e]) && text[e] != 'x' || e+1 < len(text) && text[e] == '.' && isDigit(text[e+1])) {
			continue
		}
		raw := text[s:e]
		v, err := strconv.ParseFloat(strings.ReplaceAll(raw, ",", ""), 64)
		if err != nil {
			continue
		}
		prec := 1.0
		if i := strings.IndexByte(raw, '.'); i >= 0 {
			prec = math.Pow10(-(len(raw) - i - 1))
		}
		f := figure{text: raw, value: v, prec: prec, line: lineAt(text, s)}
		if s > 0 && strings.HasSuffix(text[:s], "×") {
			f.unit = "×"
		}
		if u := unitRe.FindStringSubmatch(text[e:]); u != nil {
			f.unit = unitClass(u[1])
			switch u[1] {
			case "k lines":
				f.value, f.prec = v*1e3, prec*1e3
			case "M lines":
				f.value, f.prec = v*1e6, prec*1e6
			}
		}
		if all || f.unit != "" || strings.Contains(raw, ".") {
			out = append(out, f)
		}
	}
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isWordByte(b byte) bool {
	return isDigit(b) || b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// section returns the part of a markdown document under heading, up to the
// next heading of the same level.
func section(t *testing.T, text, heading string) string {
	t.Helper()
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("no %q section", heading)
	}
	s := text[i+1:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(s[len(heading):], "\n"+level); j >= 0 {
		s = s[:len(heading)+j]
	}
	return s
}

// quotedFigures lists the figures of a README section: in prose, the
// decimal numbers and the numbers with a unit; in a table, every number
// but the first column's. Code (commands, flags) is left out.
func quotedFigures(sec string) []figure {
	// Code spans (which may span lines) become blanks, lines kept.
	sec = spanRe.ReplaceAllStringFunc(sec, func(code string) string {
		return strings.Repeat("\n", strings.Count(code, "\n")) + " "
	})
	var out []figure
	for lineNo, line := range strings.Split(sec, "\n") {
		plain := strings.ReplaceAll(line, "**", "")
		var fs []figure
		if strings.HasPrefix(plain, "|") {
			if strings.Trim(plain, "|-: ") == "" {
				continue // the header's separator
			}
			cells := strings.Split(strings.Trim(strings.TrimSpace(plain), "|"), "|")
			for _, c := range cells[1:] {
				fs = append(fs, figures(c, true)...)
			}
		} else {
			fs = figures(plain, false)
		}
		for i := range fs {
			fs[i].line = lineNo + 1 // in the section
		}
		out = append(out, fs...)
	}
	return out
}

// sourced says whether a figure is one of the benchmark's: it holds a
// number at least as precise that rounds to it, in the same unit when both
// write one.
func sourced(f figure, bench []figure) bool {
	for _, b := range bench {
		if b.prec > f.prec*1.0001 {
			continue
		}
		if f.unit != "" && b.unit != "" && f.unit != b.unit {
			continue
		}
		// Rounded half up at the figure's precision.
		if rounded := math.Floor(b.value/f.prec+0.5+1e-9) * f.prec; math.Abs(rounded-f.value) < f.prec/2 {
			return true
		}
	}
	return false
}

// benchParts are the parts of the README whose figures come from
// bench/README.md: the Performance section, and the noisy-neighbour run's
// paragraph. (The Processing section's figures are the README's own:
// bench/README.md sends readers there.)
var benchParts = []struct{ name, start, end string }{
	{"the Performance section", "\n## Performance\n", "\n## "},
	{"the noisy-neighbour run", "\nIn real time, `go run ./bench -mode noisy", "\n\n"},
}

// TestREADMEFiguresAreBenchmarks fails when a figure of the README's
// benchmark parts is not in bench/README.md, where every figure is given
// with the run that took it. The README may round (3.15 CPU-s/GiB in the
// benchmark's 3.15, 84 MiB for its 83.5, 1.5 M lines/s for its 1,516,117)
// but not invent.
func TestREADMEFiguresAreBenchmarks(t *testing.T) {
	readme := read(t, "README.md")
	bench := figures(read(t, "bench/README.md"), true)
	for _, part := range benchParts {
		i := strings.Index(readme, part.start)
		if i < 0 {
			t.Fatalf("README has no %s (%q)", part.name, part.start)
		}
		i++ // the newline
		text := readme[i:]
		if j := strings.Index(text[len(part.start)-1:], part.end); j >= 0 {
			text = text[:len(part.start)-1+j]
		}
		quoted := quotedFigures(text)
		if len(quoted) < 10 {
			t.Fatalf("only %d figures found in %s: the scan is broken", len(quoted), part.name)
		}
		start := lineAt(readme, i)
		for _, f := range quoted {
			if !sourced(f, bench) {
				t.Errorf("README.md:%d: %s%s is in %s but not in bench/README.md", start+f.line-1, f.text, f.unit, part.name)
			}
		}
	}
}

// TestFigureRules checks the figure rules on figures that break them.
func TestFigureRules(t *testing.T) {
	bench := figures("ferry **4.10** (3.69-4.27), 83.5 MiB, 1,516,117 lines/s, 38 % of it, 40 KiB lines, Go 1.26.8, 2.2×, 0.10 %", true)
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"4.10 CPU-s/GiB", true},
		{"4.1", true},
		{"4.30", false},
		{"84 MiB", true},
		{"83 MiB", false},
		{"1.5 M lines/s", true},
		{"1.6 M lines/s", false},
		{"40 %", false}, // 40 is a size there, not a share
		{"38 %", true},
		{"2.2×", true},
		{"×2.2", true},
		{"2.20×", false}, // more precise than the benchmark
		{"0.1 % of a core", true},
		{"1.26", false},
	} {
		fs := figures(c.text, false)
		if len(fs) != 1 {
			t.Fatalf("%q: %d figures (%v), want 1", c.text, len(fs), fs)
		}
		if got := sourced(fs[0], bench); got != c.ok {
			t.Errorf("%q (%+v): sourced = %v, want %v", c.text, fs[0], got, c.ok)
		}
	}
	if fs := figures("Go 1.26.8 on v0.165.1, 3 runs, 2-vCPU", false); len(fs) != 0 {
		t.Errorf("versions and counts taken for figures: %v", fs)
	}
	tab := quotedFigures("| | a | b |\n| --- | ---: | ---: |\n| row 1 | 3.15 (13.6×) | 404 MiB/s, 1.5 M lines/s |\n")
	var got []string
	for _, f := range tab {
		got = append(got, f.text+f.unit)
	}
	if want := []string{"3.15", "13.6×", "404MiB/s", "1.5lines"}; !slices.Equal(got, want) {
		t.Errorf("table figures %v, want %v", got, want)
	}
}

// ---------------------------------------------------------------- the design's name

// TestArchitectureDocHasOneName fails when a file outside docs/ names the
// design document by a name it does not have (the upper-case one a package
// doc once sent readers to): it is docs/architecture.md.
func TestArchitectureDocHasOneName(t *testing.T) {
	wrong := strings.ToUpper("architecture") + ".md" // not written out, or this file would name it
	for _, rel := range repoFiles(t) {
		if strings.HasPrefix(rel, "docs/") {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(root, rel)); err == nil && !fi.Mode().IsRegular() {
			continue // a symlink (the fixtures' sysfs trees) or a gone file
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(string(b), wrong); i >= 0 {
			t.Errorf("%s:%d names %s; the design is docs/architecture.md", rel, lineAt(string(b), i), wrong)
		}
	}
}

// ---------------------------------------------------------------- Go names

// goNames lists what the module's Go code declares: every identifier it
// uses or declares ("readTurn", "hardCtx"), and the qualified names
// "pkg.Decl" (event.Log), "Type.method" (Tailer.rescan, including an
// interface's methods) and "Type.field" (Cursor.Source), and for those
// and the top-level functions and types the files that declare them.
func goNames(t *testing.T) (plain, qualified map[string]bool, files map[string][]string) {
	t.Helper()
	plain, qualified, files = map[string]bool{}, map[string]bool{}, map[string][]string{}
	fset := token.NewFileSet()
	for _, rel := range repoFiles(t) {
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || strings.Contains("/"+rel, "/testdata/") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		pkg := f.Name.Name
		declare := func(names ...string) {
			for _, n := range names {
				qualified[n] = true
				files[n] = append(files[n], rel)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				plain[id.Name] = true
			}
			return true
		})
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declare(pkg+"."+d.Name.Name, d.Name.Name)
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if idx, ok := recv.(*ast.IndexExpr); ok {
					recv = idx.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					declare(id.Name + "." + d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						declare(pkg+"."+s.Name.Name, s.Name.Name)
						var fields *ast.FieldList
						switch ty := s.Type.(type) {
						case *ast.StructType:
							fields = ty.Fields
						case *ast.InterfaceType:
							fields = ty.Methods
						}
						if fields == nil {
							continue
						}
						for _, fl := range fields.List {
							for _, n := range fl.Names {
								declare(s.Name.Name + "." + n.Name)
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							qualified[pkg+"."+n.Name] = true
						}
					}
				}
			}
		}
	}
	return plain, qualified, files
}

// declaredInRe is a name said to be in a file: "`Tailer.collect` in `tailer.go`".
var declaredInRe = regexp.MustCompile("`([A-Za-z][A-Za-z0-9.]*)` in `([A-Za-z0-9_/.-]+\\.go)`")

// goNameRe is a code span that names Go code: a name or a qualified name,
// with a call's parentheses or a literal's braces ([]event.Log,
// Tailer.rescan, event.NewBatch(), Cursor{Source, Offset}).
var goNameRe = regexp.MustCompile(`^(?:\[\])?([A-Za-z][A-Za-z0-9]*)(?:\.([A-Za-z][A-Za-z0-9]*))?(?:\(([^()]*)\)|\{([^{}]*)\})?$`)

// goNamesOf returns the names a code span gives, or nil when it is no Go
// name: snake_case (a config key) and all-capitals names (an environment
// variable, a flag letter) are not.
func goNamesOf(span string) []string {
	m := goNameRe.FindStringSubmatch(span)
	if m == nil || strings.ToUpper(m[1]) == m[1] && m[2] == "" {
		return nil
	}
	switch m[2] {
	case "go", "md", "sh", "yaml", "json", "log", "gz":
		return nil // a file name
	}
	head := m[1]
	if m[2] != "" {
		head += "." + m[2]
	}
	out := []string{head}
	if m[4] != "" { // a literal's fields
		typ := m[1]
		if m[2] != "" {
			typ = m[2]
		}
		for _, f := range strings.Split(m[4], ",") {
			if f = strings.TrimSpace(f); f != "" && f != "..." {
				out = append(out, typ+"."+f)
			}
		}
	}
	return out
}

// TestDesignNamesCodeThatExists fails when docs/ names a type, function,
// method or field (in a code span) that the Go code does not declare: the
// design is written from the code, with the names to open beside it.
func TestDesignNamesCodeThatExists(t *testing.T) {
	plain, qualified, files := goNames(t)
	for _, must := range []string{"Tailer.rescan", "event.Log", "runAgent"} {
		if !qualified[must] && !plain[must] {
			t.Fatalf("%s not found: the scan of the Go code is broken", must)
		}
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range docs {
		rel, _ := filepath.Rel(root, p)
		text := read(t, filepath.ToSlash(rel))
		for _, loc := range spanRe.FindAllStringIndex(text, -1) {
			span := strings.Trim(text[loc[0]:loc[1]], "`")
			for _, name := range goNamesOf(span) {
				found++
				if strings.Contains(name, ".") && !qualified[name] || !strings.Contains(name, ".") && !plain[name] {
					t.Errorf("%s:%d: `%s`: the Go code declares no %s", rel, lineAt(text, loc[0]), span, name)
				}
			}
		}
	}
	if found < 40 {
		t.Errorf("only %d Go names found in docs/: the scan is broken", found)
	}

	// A name said to be in a file is declared there.
	for _, p := range docs {
		rel, _ := filepath.Rel(root, p)
		text := read(t, filepath.ToSlash(rel))
		for _, m := range declaredInRe.FindAllStringSubmatchIndex(text, -1) {
			name, file := text[m[2]:m[3]], text[m[4]:m[5]]
			if !slices.ContainsFunc(files[name], func(f string) bool { return f == file || strings.HasSuffix(f, "/"+file) }) {
				t.Errorf("%s:%d: `%s` is said to be in %s; it is declared in %v", rel, lineAt(text, m[0]), name, file, files[name])
			}
		}
	}
}

// TestGoNameRules checks which code spans are taken for Go names.
func TestGoNameRules(t *testing.T) {
	for span, want := range map[string][]string{
		"Tailer.rescan":             {"Tailer.rescan"},
		"[]event.Log":               {"event.Log"},
		"event.NewBatch()":          {"event.NewBatch"},
		"Acker.Ack(cursors)":        {"Acker.Ack"},
		"Cursor{Source, Offset}":    {"Cursor", "Cursor.Source", "Cursor.Offset"},
		"New(cfg, logger, x)":       {"New"},
		"readCtx":                   {"readCtx"},
		"commit_interval":           nil,
		"P":                         nil,
		"GOMEMLIMIT":                nil,
		"state_dir/tail.json":       nil,
		"key: none":                 nil,
		"memory.queue_bytes":        nil,
		"pkg/tail/followerstate.go": nil,
		"open.go":                   nil,
	} {
		if got := goNamesOf(span); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", span, got, want)
		}
	}
}

// ---------------------------------------------------------------- chart values

// valuesPaths lists every key path of the chart's values.yaml
// ("metrics.prometheusRule.for").
func valuesPaths(t *testing.T) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(read(t, "charts/ferry/values.yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := strings.TrimPrefix(prefix+"."+n.Content[i].Value, ".")
				out[p] = true
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&doc, "")
	return out
}

var valuesRe = regexp.MustCompile(`^([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+)(?::.*)?$`)

// valuesMentions returns the chart values a code span names: a dotted name
// whose first part is a top-level key of values.yaml (the agent's config
// under "config." is checked against the agent by cmd/agent's tests; its
// "config.raw" is the chart's own).
func valuesMentions(span string, values map[string]bool) (string, bool) {
	m := valuesRe.FindStringSubmatch(span)
	if m == nil {
		return "", false
	}
	first, rest, _ := strings.Cut(m[1], ".")
	if !values[first] || first == "config" && rest != "raw" {
		return "", false
	}
	return m[1], true
}

// TestChartDocsNameValuesThatExist fails when the chart's README or the
// README names a chart value (`metrics.podMonitor`,
// `kafka.passwordSecret`) that values.yaml does not have.
func TestChartDocsNameValuesThatExist(t *testing.T) {
	values := valuesPaths(t)
	for _, must := range []string{"kafka.passwordSecret", "metrics.prometheusRule.for", "config.raw"} {
		if !values[must] {
			t.Fatalf("%s not found: the walk over values.yaml is broken", must)
		}
	}
	found := 0
	for _, doc := range []string{"charts/ferry/README.md", "README.md"} {
		text := read(t, doc)
		for _, loc := range spanRe.FindAllStringIndex(text, -1) {
			span := strings.Trim(text[loc[0]:loc[1]], "`")
			if v, ok := valuesMentions(span, values); ok {
				found++
				if !values[v] {
					t.Errorf("%s:%d: `%s`: charts/ferry/values.yaml has no %s", doc, lineAt(text, loc[0]), span, v)
				}
			}
		}
	}
	if found < 8 {
		t.Errorf("only %d chart values found in the documents: the scan is broken", found)
	}
}

// TestValuesRules checks which code spans are taken for chart values.
func TestValuesRules(t *testing.T) {
	values := map[string]bool{"metrics": true, "metrics.podMonitor": true, "config": true, "config.raw": true, "kafka": true}
	for span, want := range map[string]string{
		"metrics.podMonitor":        "metrics.podMonitor",
		"metrics.podMonitors":       "metrics.podMonitors",
		"hostPaths.root: \"\"":      "",
		"config.raw":                "config.raw",
		"config.sink.kafka.brokers": "",
		"kafka.passwordSecret":      "kafka.passwordSecret",
		"metrics":                   "",
		"sink.kafka.topic":          "",
		"values.yaml":               "",
	} {
		got, _ := valuesMentions(span, values)
		if got != want {
			t.Errorf("%q: %q, want %q", span, got, want)
		}
	}
}
