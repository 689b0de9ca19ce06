package process

import (
	"bytes"
	"regexp"
	"slices"
)

// mlRule decides, line by line, whether a line continues the group held
// for its stream. begin gives the rule's state after a group's first line;
// next says whether line continues a group in state st, and the state after
// it. A line that does not continue the group begins the next one. Rules
// are pure: the state is one byte held by the group.
type mlRule struct {
	name  string
	begin func(line []byte) uint8
	next  func(st uint8, first, line []byte) (cont bool, nst uint8)
	// step, when set, is next and begin in one look at the line: when
	// the line does not continue the group, nst is begin(line) (a line
	// that begins no trace is looked at once, not twice). See stepOf.
	step func(st uint8, first, line []byte) (cont bool, nst uint8)
}

// stepOf is r.step, or next then begin.
func (r *mlRule) stepOf(st uint8, first, line []byte) (bool, uint8) {
	if r.step != nil {
		return r.step(st, first, line)
	}
	if cont, nst := r.next(st, first, line); cont {
		return true, nst
	}
	return false, r.begin(line)
}

// builtinRules are the stack-trace formats of the runtimes, as they print
// them (testdata/multiline has one real trace of each). first is the
// group's first line.
var builtinRules = map[string]*mlRule{
	"java":   {name: "java", begin: javaBegin, next: javaNext, step: javaStep},
	"python": {name: "python", begin: pythonBegin, next: pythonNext},
	"go":     {name: "go", begin: goBegin, next: goNext},
	"ruby":   {name: "ruby", begin: rubyBegin, next: rubyNext},
	"nodejs": {name: "nodejs", begin: nodeBegin, next: nodeNext},
	"dotnet": {name: "dotnet", begin: dotnetBegin, next: dotnetNext},
}

func builtinNames() []string {
	var out []string
	for n := range builtinRules {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// customRule builds a rule from a CustomRule (validated).
func customRule(c CustomRule) *mlRule {
	var start, cont *regexp.Regexp
	if c.Start != "" {
		start = regexp.MustCompile(c.Start)
	}
	if c.Continuation != "" {
		cont = regexp.MustCompile(c.Continuation)
	}
	r := &mlRule{name: c.Name, begin: func([]byte) uint8 { return 0 }}
	switch {
	case start != nil && cont != nil:
		r.next = func(_ uint8, _, l []byte) (bool, uint8) { return !start.Match(l) && cont.Match(l), 0 }
	case start != nil:
		r.next = func(_ uint8, _, l []byte) (bool, uint8) { return start.Match(l) == c.Negate, 0 }
	default:
		r.next = func(_ uint8, _, l []byte) (bool, uint8) { return cont.Match(l) != c.Negate, 0 }
	}
	return r
}

// errorWords are what a log line that introduces a trace mentions (a
// logger's level, or the failure).
var errorWords = []string{"error", "exception", "fatal", "critical", "severe", "warn", "fail"}

// mentionsError reports whether a plain line may introduce the trace that
// follows it: a log line at error level, not "starting" or "done".
func mentionsError(l []byte) bool {
	for i, c := range l {
		switch c | 0x20 {
		case 'e', 'f', 'c', 's', 'w':
			for _, w := range errorWords {
				if w[0] == c|0x20 && len(l)-i >= len(w) && equalFold(l[i:i+len(w)], w) {
					return true
				}
			}
		}
	}
	return false
}

// equalFold compares ASCII letters of b with lower, ignoring case.
func equalFold(b []byte, lower string) bool {
	for i := range b {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// mayHeader is the cheap test before an exception header's expression.
func mayHeader(l []byte) bool {
	for rest := l; ; {
		i := bytes.IndexByte(rest, 'E')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if hasPrefix(rest, "rror") || hasPrefix(rest, "xception") {
			return true
		}
	}
	return bytes.Contains(l, []byte("Throwable"))
}

func indented(l []byte) bool { return len(l) > 0 && (l[0] == ' ' || l[0] == '\t') }

func trimLeft(l []byte) []byte { return bytes.TrimLeft(l, " \t") }

func hasPrefix(l []byte, p string) bool { return len(l) >= len(p) && string(l[:len(p)]) == p }

func hasSuffix(l []byte, p string) bool {
	return len(l) >= len(p) && string(l[len(l)-len(p):]) == p
}

func blank(l []byte) bool { return len(bytes.TrimSpace(l)) == 0 }

// Java (and the JVM languages): "Exception in thread ..." or a class name
// header, "\tat" frames, "Caused by:" and "Suppressed:" chains, "... N more"
// and "... N common frames omitted". A log line directly followed by an
// exception header takes the trace along (what loggers print) when it
// mentions an error.
const (
	jPlain uint8 = iota
	jTrace
)

var javaHeader = regexp.MustCompile(`^(?:Exception in thread "[^"]*" )?(?:[a-zA-Z_$][\w$]*\.)+[\w$]*(?:Exception|Error|Throwable)[\w$]*(?::.*)?$`)

func javaBegin(l []byte) uint8 {
	if mayHeader(l) && javaHeader.Match(l) {
		return jTrace
	}
	return jPlain
}

// javaFrame reports whether l is a line only a trace has: a frame, an
// elision, or the start of a cause.
func javaFrame(l []byte) bool {
	t := trimLeft(l)
	return indented(l) && hasPrefix(t, "at ") ||
		hasPrefix(t, "... ") && (hasSuffix(t, " more") || hasSuffix(t, "common frames omitted")) ||
		hasPrefix(t, "Caused by: ") || hasPrefix(t, "Suppressed: ") ||
		hasPrefix(t, "nested exception is")
}

func javaNext(st uint8, first, l []byte) (bool, uint8) {
	switch {
	case javaFrame(l):
		return true, jTrace
	case st == jPlain && !hasPrefix(l, "Exception in thread ") && mayHeader(l) && javaHeader.Match(l) && mentionsError(first):
		return true, jTrace
	}
	return false, st
}

// javaStep is javaNext, then javaBegin when the line does not continue:
// mayHeader and the header's expression run once.
func javaStep(st uint8, first, l []byte) (bool, uint8) {
	if javaFrame(l) {
		return true, jTrace
	}
	if !mayHeader(l) || !javaHeader.Match(l) {
		return false, jPlain
	}
	if st == jPlain && !hasPrefix(l, "Exception in thread ") && mentionsError(first) {
		return true, jTrace
	}
	return false, jTrace
}

// Python: "Traceback (most recent call last):", indented frames and source
// lines, the unindented exception line, and chains ("During handling of
// the above exception, another exception occurred:", "The above exception
// was the direct cause of the following exception:") with their blank
// lines. A log line that mentions an error followed by a traceback
// (logging.exception) keeps it.
const (
	pPlain uint8 = iota
	pFrames
	pException
	pBlank
	pChain
)

func pyTraceback(l []byte) bool {
	t := trimLeft(l)
	return hasPrefix(t, "Traceback (most recent call last):") || hasPrefix(t, "+ Exception Group Traceback (most recent call last):")
}

func pythonBegin(l []byte) uint8 {
	if pyTraceback(l) {
		return pFrames
	}
	return pPlain
}

func pythonNext(st uint8, first, l []byte) (bool, uint8) {
	switch st {
	case pPlain, pChain:
		if pyTraceback(l) && (st == pChain || mentionsError(first)) {
			return true, pFrames
		}
		if st == pChain && blank(l) {
			return true, pChain
		}
	case pFrames:
		if indented(l) {
			return true, pFrames
		}
		if !blank(l) {
			return true, pException
		}
	case pException:
		if blank(l) {
			return true, pBlank
		}
		if indented(l) { // exception notes, exception groups
			return true, pException
		}
	case pBlank:
		if hasPrefix(l, "During handling of the above exception") || hasPrefix(l, "The above exception was the direct cause") {
			return true, pChain
		}
	}
	return false, st
}

// Go: "panic: ", "fatal error: ", goroutine dumps ("goroutine N [state]:",
// function lines, tab-indented file lines, "created by", blank lines
// between goroutines), register dumps, "exit status N". A log line
// directly followed by a goroutine header (debug.Stack) keeps the dump.
const (
	gPlain uint8 = iota
	gDump
)

var (
	goHeads    = []string{"panic: ", "fatal error: ", "SIGQUIT: quit", "SIGABRT: abort", "SIGSEGV: ", "SIGBUS: "}
	goFunc     = regexp.MustCompile(`^[\w./*%-]+(?:\.\(\*?[\w.]+\))?[\w.\[\]{}*,-]*\(.*\)(?: \.\.\.)?$`)
	goRegister = regexp.MustCompile(`^[a-z0-9]{2,6} +0x[0-9a-f]+$`)
)

func goroutineHeader(l []byte) bool {
	return hasPrefix(l, "goroutine ") && bytes.IndexByte(l, '[') > 0 && hasSuffix(l, ":")
}

func goBegin(l []byte) uint8 {
	for _, h := range goHeads {
		if hasPrefix(l, h) {
			return gDump
		}
	}
	if goroutineHeader(l) {
		return gDump
	}
	return gPlain
}

func goNext(st uint8, first, l []byte) (bool, uint8) {
	if st == gPlain {
		if goroutineHeader(l) {
			return true, gDump
		}
		return false, st
	}
	switch {
	case blank(l), l[0] == '\t', goroutineHeader(l),
		hasPrefix(l, "created by "), hasPrefix(l, "panic: "), hasPrefix(l, "[signal "),
		hasPrefix(l, "exit status "), hasPrefix(l, "...additional frames elided..."),
		hasPrefix(l, "runtime stack:"), hasPrefix(l, "PC="), hasPrefix(l, "signal arrived"),
		hasPrefix(l, "fatal error: "), hasPrefix(l, "goroutine running on other thread"),
		goFunc.Match(l), goRegister.Match(l):
		return true, gDump
	}
	return false, st
}

// Ruby: "path:N:in 'method': message (Class)" then "\tfrom path:N:in ..."
// lines, causes as further unindented headers; and Ruby 2.5-2.7's
// "Traceback (most recent call last):" with numbered "\tN: from" frames
// and the exception last.
const (
	rPlain uint8 = iota
	rTrace
	rTraceback
)

var (
	rubyHeader = regexp.MustCompile("^\\S.*:\\d+:in [`'].*\\((?:[A-Z]\\w*)(?:::[A-Z]\\w*)*\\)$")
	rubyFrame  = regexp.MustCompile(`^\s+(?:\d+: )?from \S`)
)

func rubyBegin(l []byte) uint8 {
	if hasPrefix(l, "Traceback (most recent call last):") {
		return rTraceback
	}
	if bytes.Contains(l, []byte(":in ")) && rubyHeader.Match(l) {
		return rTrace
	}
	return rPlain
}

func rubyNext(st uint8, first, l []byte) (bool, uint8) {
	switch {
	case indented(l) && rubyFrame.Match(l):
		if st == rTraceback {
			return true, rTraceback
		}
		return true, rTrace
	case st == rTraceback && !blank(l) && !indented(l):
		return true, rTrace
	case st == rTrace && rubyHeader.Match(l):
		return true, rTrace
	}
	return false, st
}

// Node.js: an uncaught exception ("file.js:N", the source line, the caret,
// a blank line, "Error: message", "    at" frames, "Node.js vN"), and
// errors as console.error prints them ("    at" frames, "[cause]:" and
// properties inside braces). A log line followed by frames keeps them.
const (
	nPlain uint8 = iota
	nUncaught
	nUncaughtTrace
	nTrace
	nDone
)

var (
	nodeLocation = regexp.MustCompile(`^(?:\S+\.(?:[cm]?[jt]sx?)|node:\S+):\d+$`)
	nodeHeader   = regexp.MustCompile(`^(?:Uncaught )?(?:\w+\.)*\w*(?:Error|Exception)(?:\b.*)?$`)
)

func nodeBegin(l []byte) uint8 {
	switch {
	case len(l) > 0 && isDigit(l[len(l)-1]) && nodeLocation.Match(l):
		return nUncaught
	case mayHeader(l) && nodeHeader.Match(l):
		return nTrace
	}
	return nPlain
}

func nodeNext(st uint8, first, l []byte) (bool, uint8) {
	switch st {
	case nUncaught:
		if mayHeader(l) && nodeHeader.Match(l) {
			return true, nUncaughtTrace
		}
		return true, nUncaught // source line, caret, blank line
	case nUncaughtTrace:
		if hasPrefix(l, "Node.js v") {
			return true, nDone
		}
		if blank(l) || indented(l) || hasPrefix(l, "}") || hasPrefix(l, "Emitted ") || nodeHeader.Match(l) {
			return true, nUncaughtTrace
		}
	case nPlain, nTrace:
		t := trimLeft(l)
		if indented(l) && (hasPrefix(t, "at ") || hasPrefix(t, "... ") || st == nTrace) {
			return true, nTrace
		}
		if st == nTrace && hasPrefix(l, "}") {
			return true, nTrace
		}
	}
	return false, st
}

// .NET: "Unhandled exception. System.X: message", " ---> " inner
// exceptions, "   at" frames, "--- End of inner exception stack trace ---",
// and the console logger's indented continuation lines. A log line that
// mentions an error followed by an exception header keeps it.
const (
	dPlain uint8 = iota
	dTrace
)

var dotnetHeader = regexp.MustCompile(`^(?:Unhandled exception\. )?(?:[A-Za-z_]\w*\.)+\w*Exception\b`)

func dotnetBegin(l []byte) uint8 {
	if mayHeader(l) && dotnetHeader.Match(l) {
		return dTrace
	}
	return dPlain
}

func dotnetNext(st uint8, first, l []byte) (bool, uint8) {
	switch {
	case indented(l) && !blank(l), hasPrefix(l, "--- End of "):
		return true, dTrace
	case st == dPlain && !hasPrefix(l, "Unhandled exception.") && mayHeader(l) && dotnetHeader.Match(l) && mentionsError(first):
		return true, dTrace
	}
	return false, st
}
