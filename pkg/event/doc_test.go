package event

import "testing"

func TestStreamAndTypeNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Stdout.String(), "stdout"},
		{Stderr.String(), "stderr"},
		{Gauge.String(), "gauge"},
		{Counter.String(), "counter"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
