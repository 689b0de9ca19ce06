package hostmetrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/blockdevice"
)

const (
	// diskSecondsPerTick: /proc/diskstats times are in milliseconds.
	diskSecondsPerTick = 1.0 / 1000.0
	// diskSectorSize: diskstats sectors are always 512 bytes, whatever the
	// device's own sector size.
	diskSectorSize = 512.0
)

func diskCounter(name, help string) *desc {
	return newDesc("node_disk_"+name, help, prometheus.CounterValue, "device")
}

// diskDescs are in /proc/diskstats column order; a kernel with fewer
// columns reports only the first ones, as node_exporter does.
var diskDescs = []*desc{
	diskCounter("reads_completed_total", "The total number of reads completed successfully."),
	diskCounter("reads_merged_total", "The total number of reads merged."),
	diskCounter("read_bytes_total", "The total number of bytes read successfully."),
	diskCounter("read_time_seconds_total", "The total number of seconds spent by all reads."),
	diskCounter("writes_completed_total", "The total number of writes completed successfully."),
	diskCounter("writes_merged_total", "The number of writes merged."),
	diskCounter("written_bytes_total", "The total number of bytes written successfully."),
	diskCounter("write_time_seconds_total", "This is the total number of seconds spent by all writes."),
	newDesc("node_disk_io_now", "The number of I/Os currently in progress.", prometheus.GaugeValue, "device"),
	diskCounter("io_time_seconds_total", "Total seconds spent doing I/Os."),
	diskCounter("io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os."),
	diskCounter("discards_completed_total", "The total number of discards completed successfully."),
	diskCounter("discards_merged_total", "The total number of discards merged."),
	diskCounter("discarded_sectors_total", "The total number of sectors discarded successfully."),
	diskCounter("discard_time_seconds_total", "This is the total number of seconds spent by all discards."),
	diskCounter("flush_requests_total", "The total number of flush requests completed successfully"),
	diskCounter("flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests."),
}

var (
	diskFilesystemInfoDesc = newDesc("node_disk_filesystem_info", "Info about disk filesystem.", prometheus.GaugeValue,
		"device", "type", "usage", "uuid", "version")
	diskDeviceMapperInfoDesc = newDesc("node_disk_device_mapper_info", "Info about disk device mapper.", prometheus.GaugeValue,
		"device", "name", "uuid", "vg_name", "lv_name", "lv_layer")
	// diskATADescs are udev's ATA properties and their families, in a
	// fixed order.
	diskATADescs = []struct {
		prop string
		d    *desc
	}{
		{"ID_ATA_WRITE_CACHE", newDesc("node_disk_ata_write_cache", "ATA disk has a write cache.", prometheus.GaugeValue, "device")},
		{"ID_ATA_WRITE_CACHE_ENABLED", newDesc("node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled.", prometheus.GaugeValue, "device")},
		{"ID_ATA_ROTATION_RATE_RPM", newDesc("node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs).", prometheus.GaugeValue, "device")},
	}
)

var diskInfoDesc = newDesc("node_disk_info", "Info of /sys/block/<block_device>.", prometheus.GaugeValue,
	"device", "major", "minor", "path", "wwn", "model", "serial", "revision", "rotational")

// diskstatsCollector reports <proc>/diskstats through procfs's blockdevice
// package, with node_disk_info from <sys>/block and udev's database under
// <rootfs>/run/udev/data when it is there.
type diskstatsCollector struct {
	proc, sys, udev string
	exclude         *regexp.Regexp
}

func newDiskstatsCollector(cfg Config) (*diskstatsCollector, error) {
	ex, err := compileOptional(cfg.Diskstats.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("diskstats.device_exclude: %w", err)
	}
	return &diskstatsCollector{
		proc: cfg.Proc, sys: cfg.Sys,
		udev:    filepath.Join(cfg.RootFS, "run", "udev", "data"),
		exclude: ex,
	}, nil
}

func (c *diskstatsCollector) collect(e *emitter) error {
	fs, err := newBlockFS(c.proc, c.sys)
	if err != nil {
		return err
	}
	stats, err := fs.ProcDiskstats()
	if err != nil {
		return err
	}
	for _, s := range stats {
		if c.exclude != nil && c.exclude.MatchString(s.DeviceName) {
			continue
		}
		// Optional extras: a device without a queue dir or udev entry is
		// still reported, with empty info labels.
		rot, _ := fs.SysBlockDeviceRotational(s.DeviceName)
		var udev []byte
		if c.udev != "" {
			udev, _ = os.ReadFile(filepath.Join(c.udev, fmt.Sprintf("b%d:%d", s.MajorNumber, s.MinorNumber)))
		}
		emitDisk(e, s, rot, parseUdev(udev))
	}
	return nil
}

// emitDisk reports one device's counters (as many as its kernel gave) and
// its node_disk_info.
func emitDisk(e *emitter, s blockdevice.Diskstats, rotational uint64, udev map[string]string) {
	dev := s.DeviceName
	serial := udev["SCSI_IDENT_SERIAL"]
	if serial == "" {
		serial = udev["ID_SERIAL_SHORT"]
	}
	if serial == "" {
		serial = udev["ID_SERIAL"]
	}
	e.emit(diskInfoDesc, 1, dev,
		strconv.FormatUint(uint64(s.MajorNumber), 10), strconv.FormatUint(uint64(s.MinorNumber), 10),
		udev["ID_PATH"], udev["ID_WWN"], udev["ID_MODEL"], serial, udev["ID_REVISION"],
		strconv.FormatUint(rotational, 2))
	vals := [...]float64{
		float64(s.ReadIOs),
		float64(s.ReadMerges),
		float64(s.ReadSectors) * diskSectorSize,
		float64(s.ReadTicks) * diskSecondsPerTick,
		float64(s.WriteIOs),
		float64(s.WriteMerges),
		float64(s.WriteSectors) * diskSectorSize,
		float64(s.WriteTicks) * diskSecondsPerTick,
		float64(s.IOsInProgress),
		float64(s.IOsTotalTicks) * diskSecondsPerTick,
		float64(s.WeightedIOTicks) * diskSecondsPerTick,
		float64(s.DiscardIOs),
		float64(s.DiscardMerges),
		float64(s.DiscardSectors),
		float64(s.DiscardTicks) * diskSecondsPerTick,
		float64(s.FlushRequestsCompleted),
		float64(s.TimeSpentFlushing) * diskSecondsPerTick,
	}
	n := min(s.IoStatsCount-3, len(vals)) // less major, minor and name
	for i := 0; i < n; i++ {
		e.emit(diskDescs[i], vals[i], dev)
	}
	if t := udev["ID_FS_TYPE"]; t != "" {
		e.emit(diskFilesystemInfoDesc, 1, dev, t, udev["ID_FS_USAGE"], udev["ID_FS_UUID"], udev["ID_FS_VERSION"])
	}
	if name := udev["DM_NAME"]; name != "" {
		e.emit(diskDeviceMapperInfoDesc, 1, dev, name, udev["DM_UUID"], udev["DM_VG_NAME"], udev["DM_LV_NAME"], udev["DM_LV_LAYER"])
	}
	if udev["ID_ATA"] != "" {
		for _, a := range diskATADescs {
			if v, err := strconv.ParseFloat(udev[a.prop], 64); err == nil {
				e.emit(a.d, v, dev)
			}
		}
	}
}

// parseUdev reads the properties ("E:KEY=VALUE" lines) of a udev database
// entry.
func parseUdev(b []byte) map[string]string {
	if len(b) == 0 {
		return nil
	}
	m := make(map[string]string)
	for line := range bytes.Lines(b) {
		line = bytes.TrimRight(line, "\r\n")
		rest, ok := bytes.CutPrefix(line, []byte("E:"))
		if !ok {
			continue
		}
		if k, v, ok := bytes.Cut(rest, []byte("=")); ok {
			m[string(k)] = string(v)
		}
	}
	return m
}
