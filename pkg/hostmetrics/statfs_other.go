//go:build !linux

package hostmetrics

import "errors"

var errNotLinux = errors.New("host metrics need Linux")

func statfs(string) (fsStat, error) { return fsStat{}, errNotLinux }

func machine() (string, error) { return "", errNotLinux }

func adjtimex() (int, timex, error) { return 0, timex{}, errNotLinux }

// The collectors that read sysfs through procfs' sysfs package, which
// builds on Linux only.
type (
	cpufreqCollector     struct{ sys string }
	thermalZoneCollector struct{ sys string }
	hwmonCollector       struct{ sys string }
)

func (*cpufreqCollector) collect(*emitter) error     { return errNotLinux }
func (*thermalZoneCollector) collect(*emitter) error { return errNotLinux }
func (*hwmonCollector) collect(*emitter) error       { return errNotLinux }
