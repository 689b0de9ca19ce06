//go:build linux

package hostmetrics

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// hwmonCollector reports <sys>/class/hwmon, the kernel's hardware sensors
// (temperatures, fans, voltages, currents, power, energy), as
// node_exporter's hwmon collector does: the same chip and sensor names,
// metric names, help texts, units and scaling. Bare-metal nodes have them;
// most cloud VMs have none, and then the collector has no data.
type hwmonCollector struct{ sys string }

var (
	hwmonInvalidChars = regexp.MustCompile("[^a-z0-9:_]")
	hwmonFileFormat   = regexp.MustCompile(`^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$`)
	hwmonSensorTypes  = []string{"vrm", "beep_enable", "update_interval", "in", "cpu", "fan", "pwm", "temp",
		"curr", "power", "energy", "humidity", "intrusion", "freq"}

	hwmonChipNamesDesc = newDesc("node_hwmon_chip_names", "Annotation metric for human-readable chip names",
		prometheus.GaugeValue, "chip", "chip_name")
	hwmonSensorLabelDesc = newDesc("node_hwmon_sensor_label", "Label for given chip and sensor",
		prometheus.GaugeValue, "chip", "sensor", "label")
)

// hwmonClean is node_exporter's cleanMetricName.
func hwmonClean(name string) string {
	return strings.Trim(hwmonInvalidChars.ReplaceAllLiteralString(strings.ToLower(name), "_"), "_")
}

// explodeHwmonFile splits a sensor file name into <type><num>_<property>.
func explodeHwmonFile(name string) (ok bool, typ string, num int, prop string) {
	m := hwmonFileFormat.FindStringSubmatch(name)
	if m == nil {
		return false, "", 0, ""
	}
	typ, prop = m[1], m[4]
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return false, typ, 0, prop
		}
		num = n
	}
	return true, typ, num, prop
}

// readHwmonFile reads a sensor file with one read(2) of at most 128 bytes,
// as node_exporter does: some drivers answer EAGAIN forever, which a
// read-until-EOF would retry.
func readHwmonFile(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var b [128]byte
	n, err := readRetry(fd, b[:])
	if err != nil {
		return "", err
	}
	return strings.Trim(string(b[:n]), "\n"), nil
}

// collectHwmonDir reads the sensor files of dir into data[sensor][property].
func collectHwmonDir(dir string, data map[string]map[string]string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		ok, typ, num, prop := explodeHwmonFile(ent.Name())
		if !ok || !slices.Contains(hwmonSensorTypes, typ) {
			continue
		}
		v, err := readHwmonFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			continue
		}
		sensor := typ + strconv.Itoa(num)
		if data[sensor] == nil {
			data[sensor] = make(map[string]string)
		}
		data[sensor][prop] = v
	}
	return nil
}

// hwmonName names a chip as node_exporter does: from its device's path
// (<bus type>_<device>), else its name file, else its hwmonN directory.
func hwmonName(dir string) (string, error) {
	if dev, err := filepath.EvalSymlinks(filepath.Join(dir, "device")); err == nil {
		prefix, devName := filepath.Split(dev)
		_, devType := filepath.Split(strings.TrimRight(prefix, "/"))
		name, typ := hwmonClean(devName), hwmonClean(devType)
		if typ != "" && name != "" {
			return typ + "_" + name, nil
		}
		if name != "" {
			return name, nil
		}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "name")); err == nil && len(raw) > 0 {
		if name := hwmonClean(string(raw)); name != "" {
			return name, nil
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if name := hwmonClean(filepath.Base(real)); name != "" {
		return name, nil
	}
	return "", errors.New("no name for hwmon " + dir)
}

func (c *hwmonCollector) collect(e *emitter) error {
	root := filepath.Join(c.sys, "class", "hwmon")
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return noData("no " + root + " (no hardware sensors: most virtual machines)")
	}
	if err != nil {
		return err
	}
	type chip struct{ dir, base, nameFile string }
	var chips []chip
	bases, names := map[string]int{}, map[string]int{}
	for _, ent := range ents {
		dir := filepath.Join(root, ent.Name())
		fi, err := os.Stat(dir) // follows the class's symlinks
		if err != nil || !fi.IsDir() {
			continue
		}
		base, err := hwmonName(dir)
		if err != nil {
			continue
		}
		nameFile := ""
		if raw, err := os.ReadFile(filepath.Join(dir, "name")); err == nil {
			nameFile = strings.TrimSpace(string(raw))
		}
		chips = append(chips, chip{dir, base, nameFile})
		bases[base]++
		names[base+"\x00"+nameFile]++
	}
	var lastErr error
	for _, ch := range chips {
		// Chips sharing a device (one driver exposing two hwmon nodes)
		// are told apart by their name file, else their directory.
		name := ch.base
		if bases[ch.base] > 1 {
			suffix := hwmonClean(ch.nameFile)
			if suffix == "" || names[ch.base+"\x00"+ch.nameFile] > 1 {
				suffix = hwmonClean(filepath.Base(ch.dir))
			}
			name = ch.base + "_" + suffix
		}
		if err := c.collectChip(e, ch.dir, name, ch.nameFile); err != nil {
			lastErr = err
		}
	}
	return lastErr
}

// collectChip reports one chip; nameFile is its name file, as read.
func (c *hwmonCollector) collectChip(e *emitter, dir, chip, nameFile string) error {
	data := make(map[string]map[string]string)
	if err := collectHwmonDir(dir, data); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "device")); err == nil {
		if err := collectHwmonDir(filepath.Join(dir, "device"), data); err != nil {
			return err
		}
	}
	if human := hwmonClean(nameFile); human != "" {
		e.emit(hwmonChipNamesDesc, 1, chip, human)
	}
	sensors := make([]string, 0, len(data))
	for s := range data {
		sensors = append(sensors, s)
	}
	slices.Sort(sensors)
	for _, sensor := range sensors {
		c.emitSensor(e, chip, sensor, data[sensor])
	}
	return nil
}

// emitSensor reports one sensor's properties under node_exporter's names.
func (c *hwmonCollector) emitSensor(e *emitter, chip, sensor string, props map[string]string) {
	_, typ, _, _ := explodeHwmonFile(sensor)
	gauge := func(name, help string, v float64, lv ...string) {
		e.emit(e.dyn.get(name, help, prometheus.GaugeValue, "chip", "sensor"), v, lv...)
	}
	if label, ok := props["label"]; ok {
		e.emit(hwmonSensorLabelDesc, 1, chip, sensor, strings.ToValidUTF8(label, "\uFFFD"))
	}
	switch typ {
	case "beep_enable":
		v := 0.0
		if props[""] == "1" {
			v = 1
		}
		gauge("node_hwmon_beep_enabled", "Hardware beep enabled", v, chip, sensor)
		return
	case "vrm":
		if v, err := strconv.ParseFloat(props[""], 64); err == nil {
			gauge("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", v, chip, sensor)
		}
		return
	case "update_interval":
		if v, err := strconv.ParseFloat(props[""], 64); err == nil {
			gauge("node_hwmon_update_interval_seconds", "Hardware monitor update interval", v*0.001, chip, sensor)
		}
		return
	}
	prefix := "node_hwmon_" + typ
	elements := make([]string, 0, len(props))
	for el := range props {
		elements = append(elements, el)
	}
	slices.Sort(elements)
	for _, el := range elements {
		if el == "label" {
			continue
		}
		name := prefix
		if el == "input" {
			if _, ok := props[""]; ok {
				name += "_input"
			}
		} else if el != "" {
			name += "_" + hwmonClean(el)
		}
		v, err := strconv.ParseFloat(props[el], 64)
		if err != nil {
			continue
		}
		switch {
		case el == "fault" || el == "alarm":
			gauge(name, "Hardware sensor "+el+" status ("+typ+")", v, chip, sensor)
		case el == "beep":
			gauge(name+"_enabled", "Hardware monitor sensor has beeping enabled", v, chip, sensor)
		case typ == "in" || typ == "cpu":
			gauge(name+"_volts", "Hardware monitor for voltage ("+el+")", v*0.001, chip, sensor)
		case typ == "temp" && el != "type":
			help := el
			if help == "" {
				help = "input"
			}
			gauge(name+"_celsius", "Hardware monitor for temperature ("+help+")", v*0.001, chip, sensor)
		case typ == "curr":
			gauge(name+"_amps", "Hardware monitor for current ("+el+")", v*0.001, chip, sensor)
		case typ == "energy":
			e.emit(e.dyn.get(name+"_joule_total", "Hardware monitor for joules used so far ("+el+")",
				prometheus.CounterValue, "chip", "sensor"), v/1e6, chip, sensor)
		case typ == "power" && el == "accuracy":
			gauge(name, "Hardware monitor power meter accuracy, as a ratio", v/1e6, chip, sensor)
		case typ == "power" && (el == "average_interval" || el == "average_interval_min" || el == "average_interval_max"):
			gauge(name+"_seconds", "Hardware monitor power usage update interval ("+el+")", v*0.001, chip, sensor)
		case typ == "power":
			gauge(name+"_watt", "Hardware monitor for power usage in watts ("+el+")", v/1e6, chip, sensor)
		case typ == "humidity":
			gauge(name, "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ("+el+")", v/1e6, chip, sensor)
		case typ == "fan" && (el == "input" || el == "min" || el == "max" || el == "target"):
			gauge(name+"_rpm", "Hardware monitor for fan revolutions per minute ("+el+")", v, chip, sensor)
		case typ == "freq" && el == "input":
			// Reported only with a label, which names it (node_exporter's).
			if label, ok := props["label"]; ok {
				gauge(name+"_freq_mhz", "Hardware monitor for GPU frequency in MHz", v/1e6, chip, hwmonClean(label))
			}
		default:
			gauge(name, "Hardware monitor "+typ+" element "+el, v, chip, sensor)
		}
	}
}
