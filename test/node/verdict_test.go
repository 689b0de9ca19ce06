package node

import (
	"strings"
	"testing"
)

// The node test is only as good as its checker: it must see a missing, a
// doubled, an out-of-order and a cut line. This runs without a node.
func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seqs   []int
		bad    []string
		cuts   []cut
		conts  []int
		maxDup int
		want   string // "" or a part of the verdict
	}{
		{"all once, in order", []int{0, 1, 2, 3}, nil, nil, nil, 0, ""},
		{"missing", []int{0, 1, 3}, nil, nil, nil, 0, "1 of 4 lines missing (first [2])"},
		{"doubled", []int{0, 1, 2, 3, 2, 3}, nil, nil, nil, 0, "2 duplicates (at most 0 allowed)"},
		{"doubled within the bound", []int{0, 1, 2, 1, 2, 3}, nil, nil, nil, 2, ""},
		{"out of order", []int{0, 2, 1, 3}, nil, nil, nil, 0, "1 lines out of order"},
		{"never written", []int{0, 1, 2, 3, 7}, nil, nil, nil, 0, "lines never written: [7]"},
		{"cut line", []int{0, 1, 2, 3}, []string{"seq 2: 16384 bytes (want 40000)"}, nil, nil, 0, "1 bad lines"},
		{"cut by a rotation, rest arrived", []int{0, 1, 2, 3}, nil, []cut{{2, 15537, 40000}}, []int{24463}, 0, ""},
		{"cut by a rotation, rest missing", []int{0, 1, 2, 3}, nil, []cut{{2, 15537, 40000}}, nil, 0, "no rest of 24463 bytes"},
		{"cut by a rotation, rest of another length", []int{0, 1, 2, 3}, nil, []cut{{2, 15537, 40000}}, []int{24000}, 0, "1 bad lines"},
	} {
		got := stream{seqs: tc.seqs, bad: tc.bad, cuts: tc.cuts, conts: tc.conts}.verdict(4, tc.maxDup)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: verdict %q, want %q", tc.name, got, tc.want)
		}
	}
}
