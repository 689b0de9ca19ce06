package enrich

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePath(t *testing.T) {
	type parts struct{ NS, Pod, UID, Container string }
	uid := "0b7c4a9e-2f55-4e6f-9d43-8d1c3b0f1a2e"
	l63 := strings.Repeat("p", 63)
	longPod := l63 + "." + l63 + "." + l63 + "." + strings.Repeat("p", 61) // 253 characters
	for _, tc := range []struct {
		name string
		path string
		want *parts // nil: must not parse
	}{
		{"plain", "/var/log/pods/shop_checkout-7d9f8_" + uid + "/app/0.log", &parts{"shop", "checkout-7d9f8", uid, "app"}},
		{"restart count", "/var/log/pods/shop_web_" + uid + "/app/12.log", &parts{"shop", "web", uid, "app"}},
		{"rotated", "/var/log/pods/shop_web_" + uid + "/app/0.log.20260101-000000", &parts{"shop", "web", uid, "app"}},
		{"other root", "/tmp/x/shop_web_" + uid + "/app/0.log", &parts{"shop", "web", uid, "app"}},
		{"relative", "shop_web_" + uid + "/app/0.log", &parts{"shop", "web", uid, "app"}},
		{"dotted pod name", "/var/log/pods/kube-system_etcd.node-1.example_" + uid + "/etcd/0.log", &parts{"kube-system", "etcd.node-1.example", uid, "etcd"}},
		{"static pod config hash", "/var/log/pods/kube-system_kube-apiserver-n1_5a1f0a3bd6e04a1c2d0e8f6b9c7d3e21/kube-apiserver/0.log",
			&parts{"kube-system", "kube-apiserver-n1", "5a1f0a3bd6e04a1c2d0e8f6b9c7d3e21", "kube-apiserver"}},
		{"digits only names", "/var/log/pods/1_2_3/4/0.log", &parts{"1", "2", "3", "4"}},
		{"max length names", "/var/log/pods/" + strings.Repeat("n", 63) + "_" + longPod + "_" + uid + "/" + strings.Repeat("c", 63) + "/0.log",
			&parts{strings.Repeat("n", 63), longPod, uid, strings.Repeat("c", 63)}},

		{"underscore in pod", "/var/log/pods/shop_my_pod_" + uid + "/app/0.log", nil},
		{"only two parts", "/var/log/pods/shop_" + uid + "/app/0.log", nil},
		{"no underscore", "/var/log/pods/shop/app/0.log", nil},
		{"empty namespace", "/var/log/pods/_web_" + uid + "/app/0.log", nil},
		{"empty pod", "/var/log/pods/shop__" + uid + "/app/0.log", nil},
		{"empty uid", "/var/log/pods/shop_web_/app/0.log", nil},
		{"empty container", "/var/log/pods/shop_web_" + uid + "//0.log", nil},
		{"dotdot container", "/var/log/pods/shop_web_" + uid + "/../0.log", nil},
		{"dotdot everywhere", "/var/log/pods/.._.._../../0.log", nil},
		{"upper case namespace", "/var/log/pods/Shop_web_" + uid + "/app/0.log", nil},
		{"namespace too long", "/var/log/pods/" + strings.Repeat("n", 64) + "_web_" + uid + "/app/0.log", nil},
		{"pod too long", "/var/log/pods/shop_" + longPod + "p_" + uid + "/app/0.log", nil},
		{"pod label too long", "/var/log/pods/shop_" + strings.Repeat("p", 64) + "_" + uid + "/app/0.log", nil},
		{"container too long", "/var/log/pods/shop_web_" + uid + "/" + strings.Repeat("c", 64) + "/0.log", nil},
		{"leading dash", "/var/log/pods/-shop_web_" + uid + "/app/0.log", nil},
		{"trailing dot pod", "/var/log/pods/shop_web._" + uid + "/app/0.log", nil},
		{"double dot pod", "/var/log/pods/shop_a..b_" + uid + "/app/0.log", nil},
		{"newline in uid", "/var/log/pods/shop_web_" + uid + "\n/app/0.log", nil},
		{"NUL in container", "/var/log/pods/shop_web_" + uid + "/a\x00pp/0.log", nil},
		{"unicode pod", "/var/log/pods/shop_wéb_" + uid + "/app/0.log", nil},
		{"space in pod", "/var/log/pods/shop_w b_" + uid + "/app/0.log", nil},
		{"slash in uid position", "/var/log/pods/shop_web_a/b/app/0.log", nil},
		{"not a log file", "/var/log/pods/shop_web_" + uid + "/app/0.txt", nil},
		{"directory", "/var/log/pods/shop_web_" + uid + "/app/", nil},
		{"too short", "0.log", nil},
		{"container only", "app/0.log", nil},
		{"empty", "", nil},
		{"uid too long", "/var/log/pods/shop_web_" + strings.Repeat("a", 65) + "/app/0.log", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, pod, u, c, ok := ParsePath(tc.path)
			if tc.want == nil {
				if ok {
					t.Errorf("ParsePath(%q) = %q %q %q %q, want no parse", tc.path, ns, pod, u, c)
				}
				return
			}
			if !ok {
				t.Fatalf("ParsePath(%q) did not parse", tc.path)
			}
			if diff := cmp.Diff(*tc.want, parts{ns, pod, u, c}); diff != "" {
				t.Errorf("ParsePath(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/var/log/pods/shop_web_0b7c4a9e-2f55-4e6f-9d43-8d1c3b0f1a2e/app/0.log",
		"/var/log/pods/kube-system_etcd.n1_5a1f0a3bd6e04a1c2d0e8f6b9c7d3e21/etcd/3.log.20260101-000000",
		"/var/log/pods/a_b_c_d/e/0.log", "a_b_c/d/.log", "", "/", "_/_/_",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		ns, pod, uid, c, ok := ParsePath(path)
		if !ok {
			if ns != "" || pod != "" || uid != "" || c != "" {
				t.Fatalf("no parse but parts returned: %q %q %q %q", ns, pod, uid, c)
			}
			return
		}
		for _, p := range []string{ns, pod, uid, c} {
			if p == "" || strings.ContainsAny(p, "_/\x00\n ") || p == "." || p == ".." {
				t.Fatalf("bad part %q from %q", p, path)
			}
		}
		// The parts are the path's own: rebuilding the tail gives the path back.
		tail := ns + "_" + pod + "_" + uid + "/" + c + "/"
		i := strings.LastIndex(path, tail)
		if i < 0 || (i > 0 && path[i-1] != '/') || strings.Contains(path[i+len(tail):], "/") {
			t.Fatalf("parts %q do not rebuild the tail of %q", tail, path)
		}
	})
}
