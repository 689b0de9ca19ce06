package hostmetrics

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	timeNowDesc  = newDesc("node_time_seconds", "System time in seconds since epoch (1970).", prometheus.GaugeValue)
	timeZoneDesc = newDesc("node_time_zone_offset_seconds", "System time zone offset in seconds.",
		prometheus.GaugeValue, "time_zone")
	clocksourceAvailableDesc = newDesc("node_time_clocksource_available_info",
		"Available clocksources read from '/sys/devices/system/clocksource'.", prometheus.GaugeValue, "device", "clocksource")
	clocksourceCurrentDesc = newDesc("node_time_clocksource_current_info",
		"Current clocksource read from '/sys/devices/system/clocksource'.", prometheus.GaugeValue, "device", "clocksource")
)

// timeCollector reports the system clock and its time zone (the agent's:
// in a container, usually UTC), and the clock sources of
// <sys>/devices/system/clocksource. node_time_seconds against the
// scraper's own clock is how clock skew is alerted on.
type timeCollector struct {
	sys string
	now func() time.Time
}

func (c *timeCollector) collect(e *emitter) error {
	now := c.now()
	zone, offset := now.Zone()
	e.emit(timeNowDesc, float64(now.UnixNano())/1e9)
	e.emit(timeZoneDesc, float64(offset), zone)
	dirs, err := filepath.Glob(filepath.Join(c.sys, "devices", "system", "clocksource", "clocksource[0-9]*"))
	if err != nil {
		return err
	}
	// node_exporter labels each clocksource device by its position in the
	// directory listing, which is its number in every kernel so far.
	for i, dir := range dirs {
		avail, err := readFile(filepath.Join(dir, "available_clocksource"))
		if err != nil {
			return err
		}
		cur, err := readFile(filepath.Join(dir, "current_clocksource"))
		if err != nil {
			return err
		}
		dev := strconv.Itoa(i)
		for _, a := range strings.Fields(string(avail)) {
			e.emit(clocksourceAvailableDesc, 1, dev, a)
		}
		e.emit(clocksourceCurrentDesc, 1, dev, strings.TrimSpace(string(cur)))
	}
	return nil
}
