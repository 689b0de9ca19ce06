//go:build linux

package hostmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	thermalZoneTempDesc = newDesc("node_thermal_zone_temp", "Zone temperature in Celsius",
		prometheus.GaugeValue, "zone", "type")
	coolingCurDesc = newDesc("node_cooling_device_cur_state", "Current throttle state of the cooling device",
		prometheus.GaugeValue, "name", "type")
	coolingMaxDesc = newDesc("node_cooling_device_max_state", "Maximum throttle state of the cooling device",
		prometheus.GaugeValue, "name", "type")
)

// thermalZoneCollector reports <sys>/class/thermal: the temperature of
// each thermal zone and the state of each cooling device. Virtual machines
// usually have neither; the collector then reports nothing and succeeds.
type thermalZoneCollector struct{ sys string }

func (c *thermalZoneCollector) collect(e *emitter) error {
	if noThermal(c.sys) {
		return nil
	}
	fs, err := newSysFS(c.sys)
	if err != nil {
		return err
	}
	zones, err := fs.ClassThermalZoneStats()
	if err != nil {
		return err
	}
	for _, z := range zones {
		e.emit(thermalZoneTempDesc, float64(z.Temp)/1000, z.Name, z.Type)
	}
	devs, err := fs.ClassCoolingDeviceStats()
	if err != nil {
		return err
	}
	for _, d := range devs {
		e.emit(coolingCurDesc, float64(d.CurState), d.Name, d.Type)
		e.emit(coolingMaxDesc, float64(d.MaxState), d.Name, d.Type)
	}
	return nil
}
