package enrich

import "strings"

// ParsePath returns the identity a kubelet log path gives:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log.
//
// Only the last three elements are read (so any root works, tests included) and the directory
// name is split from the right: the uid is what follows the last underscore, the namespace what
// precedes the first. Kubernetes allows no underscore in namespace, pod or container names, nor
// in uids, so a name with one does not parse: ok is false. Each part is checked against what
// Kubernetes accepts (namespace and container: DNS labels; pod: DNS subdomain; uid: letters,
// digits and dashes), which keeps hostile paths ("..", empty parts, control bytes) out of
// metadata. The file name must be non-empty and contain ".log" (rotated files such as
// "0.log.20260101-000000" still parse). The returned strings share memory with path.
func ParsePath(path string) (ns, pod, uid, container string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", "", "", "", false
	}
	file := path[i+1:]
	if file == "" || !strings.Contains(file, ".log") {
		return "", "", "", "", false
	}
	rest := path[:i]
	i = strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", "", "", "", false
	}
	container = rest[i+1:]
	dir := rest[:i]
	if j := strings.LastIndexByte(dir, '/'); j >= 0 {
		dir = dir[j+1:]
	}
	last := strings.LastIndexByte(dir, '_')
	first := strings.IndexByte(dir, '_')
	if last < 0 || first == last {
		return "", "", "", "", false
	}
	ns, pod, uid = dir[:first], dir[first+1:last], dir[last+1:]
	if !isDNSLabel(ns) || !isDNSSubdomain(pod) || !isUID(uid) || !isDNSLabel(container) {
		return "", "", "", "", false
	}
	return ns, pod, uid, container, true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isDNSLabel reports whether s is an RFC 1123 label: 1-63 lower-case letters, digits and '-',
// starting and ending with a letter or digit.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// isDNSSubdomain reports whether s is an RFC 1123 subdomain: at most 253 characters, dot-separated
// labels.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '.')
		label := s
		if i >= 0 {
			label, s = s[:i], s[i+1:]
			if s == "" {
				return false // trailing dot
			}
		} else {
			s = ""
		}
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// isUID reports whether s can be a pod uid as kubelet writes it in a path: a UUID for API pods, a
// hex config hash for static pods.
func isUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && !(c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
