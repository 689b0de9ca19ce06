package hostmetrics

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// Defaults of the node_exporter filters this package copies.
const (
	// DefaultMountPointsExclude is node_exporter's default for
	// --collector.filesystem.mount-points-exclude.
	DefaultMountPointsExclude = `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
	// DefaultFSTypesExclude is node_exporter's default for
	// --collector.filesystem.fs-types-exclude: pseudo and read-only image
	// filesystems that say nothing about free space.
	DefaultFSTypesExclude = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$`
	// DefaultDiskDeviceExclude is node_exporter's default for
	// --collector.diskstats.device-exclude: partitions, ram and loop devices.
	DefaultDiskDeviceExclude = `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`
	// DefaultVMStatFields is node_exporter's default for
	// --collector.vmstat.fields: paging, swapping, faults and OOM kills.
	DefaultVMStatFields = `^(oom_kill|pgpg|pswp|pg.*fault).*`
)

// Config is the hostmetrics section of the agent's configuration.
type Config struct {
	// Enabled turns host metrics on. Default true.
	Enabled bool `yaml:"enabled"`
	// Interval is how often a snapshot is taken for the sink. Default 15s.
	// The /metrics endpoint collects at scrape time, independently.
	Interval time.Duration `yaml:"interval"`
	// Proc is where the host's procfs is mounted. Default /proc (the chart
	// sets /host/proc).
	Proc string `yaml:"proc"`
	// Sys is where the host's sysfs is mounted. Default /sys (the chart sets
	// /host/sys).
	Sys string `yaml:"sys"`
	// RootFS is where the host's root filesystem is mounted. Default /.
	// Mount points are reported relative to it, as node_exporter does with
	// --path.rootfs, and udev data is read from <rootfs>/run/udev/data.
	RootFS string `yaml:"rootfs"`
	// Collectors turns each collector on or off. Default: all on.
	Collectors Collectors `yaml:"collectors"`
	// Filesystem tunes the filesystem collector.
	Filesystem FilesystemConfig `yaml:"filesystem"`
	// Diskstats tunes the diskstats collector.
	Diskstats DiskstatsConfig `yaml:"diskstats"`
	// Netdev tunes the netdev collector.
	Netdev NetdevConfig `yaml:"netdev"`
	// VMStat tunes the vmstat collector.
	VMStat VMStatConfig `yaml:"vmstat"`
	// Netstat tunes the netstat collector.
	Netstat NetstatConfig `yaml:"netstat"`
	// MaxHeldSnapshots is how many snapshots may wait for the sink at once;
	// beyond that the oldest is dropped and counted. The effective bound is
	// the smaller of this and the capacity of Options.Out. Default 4.
	MaxHeldSnapshots int `yaml:"max_held_snapshots"`
}

// Collectors turns each collector on or off. Every field defaults to true.
type Collectors struct {
	CPU        bool `yaml:"cpu"`          // node_cpu_*; default true
	Meminfo    bool `yaml:"meminfo"`      // node_memory_*; default true
	Loadavg    bool `yaml:"loadavg"`      // node_load1/5/15; default true
	Diskstats  bool `yaml:"diskstats"`    // node_disk_*; default true
	Netdev     bool `yaml:"netdev"`       // node_network_*; default true
	Filesystem bool `yaml:"filesystem"`   // node_filesystem_*; default true
	Pressure   bool `yaml:"pressure"`     // node_pressure_*; default true
	VMStat     bool `yaml:"vmstat"`       // node_vmstat_*; default true
	Stat       bool `yaml:"stat"`         // node_boot_time_seconds, node_context_switches_total, ...; default true
	FileFD     bool `yaml:"filefd"`       // node_filefd_*; default true
	Uname      bool `yaml:"uname"`        // node_uname_info; default true
	Sockstat   bool `yaml:"sockstat"`     // node_sockstat_*; default true
	Conntrack  bool `yaml:"conntrack"`    // node_nf_conntrack_*; default true
	Netclass   bool `yaml:"netclass"`     // node_network_up, _carrier, _mtu_bytes, _speed_bytes, _info, ...; default true
	Netstat    bool `yaml:"netstat"`      // node_netstat_*; default true
	Softnet    bool `yaml:"softnet"`      // node_softnet_*; default true
	Schedstat  bool `yaml:"schedstat"`    // node_schedstat_*; default true
	Time       bool `yaml:"time"`         // node_time_*; default true
	Timex      bool `yaml:"timex"`        // node_timex_*; default true
	Entropy    bool `yaml:"entropy"`      // node_entropy_*; default true
	Cpufreq    bool `yaml:"cpufreq"`      // node_cpu_frequency_*, node_cpu_scaling_*; default true
	Thermal    bool `yaml:"thermal_zone"` // node_thermal_zone_temp, node_cooling_device_*; default true
	OS         bool `yaml:"os"`           // node_os_info, node_os_version; default true
	ARP        bool `yaml:"arp"`          // node_arp_entries; default true
	UDPQueues  bool `yaml:"udp_queues"`   // node_udp_queues; default true
	KernelHung bool `yaml:"kernel_hung"`  // node_kernel_hung_tasks_total; default true
	SELinux    bool `yaml:"selinux"`      // node_selinux_*; default true
	Hwmon      bool `yaml:"hwmon"`        // node_hwmon_*; default true
}

// FilesystemConfig tunes the filesystem collector.
type FilesystemConfig struct {
	// StatfsTimeout bounds one statfs call. A mount that does not answer in
	// time (a dead NFS server) is reported with node_filesystem_device_error
	// and skipped until its pending call returns. Default 5s.
	StatfsTimeout time.Duration `yaml:"statfs_timeout"`
	// MountPointsExclude is a regular expression of mount points (as
	// reported, relative to rootfs) to leave out. Default
	// DefaultMountPointsExclude.
	MountPointsExclude string `yaml:"mount_points_exclude"`
	// FSTypesExclude is a regular expression of filesystem types to leave
	// out. Default DefaultFSTypesExclude.
	FSTypesExclude string `yaml:"fs_types_exclude"`
}

// DiskstatsConfig tunes the diskstats collector.
type DiskstatsConfig struct {
	// DeviceExclude is a regular expression of block device names to leave
	// out. Default DefaultDiskDeviceExclude.
	DeviceExclude string `yaml:"device_exclude"`
}

// NetdevConfig tunes the netdev collector.
type NetdevConfig struct {
	// DeviceExclude is a regular expression of network device names to leave
	// out. Default "" (none, as in node_exporter).
	DeviceExclude string `yaml:"device_exclude"`
}

// VMStatConfig tunes the vmstat collector.
type VMStatConfig struct {
	// Fields is a regular expression of /proc/vmstat fields to export.
	// Default DefaultVMStatFields.
	Fields string `yaml:"fields"`
}

// NetstatConfig tunes the netstat collector.
type NetstatConfig struct {
	// Fields is a regular expression of <Protocol>_<Field> names of
	// /proc/net/netstat, snmp and snmp6 to export. Default
	// DefaultNetstatFields.
	Fields string `yaml:"fields"`
}

// DefaultConfig returns the configuration that fits a standard node when the
// agent runs on the host itself.
func DefaultConfig() Config {
	return Config{
		Enabled:  true,
		Interval: 15 * time.Second,
		Proc:     "/proc",
		Sys:      "/sys",
		RootFS:   "/",
		Collectors: Collectors{
			CPU: true, Meminfo: true, Loadavg: true, Diskstats: true, Netdev: true,
			Filesystem: true, Pressure: true, VMStat: true, Stat: true, FileFD: true,
			Uname: true, Sockstat: true, Conntrack: true, Netclass: true, Netstat: true,
			Softnet: true, Schedstat: true, Time: true, Timex: true, Entropy: true, Cpufreq: true,
			Thermal: true, OS: true, ARP: true, UDPQueues: true, KernelHung: true, SELinux: true,
			Hwmon: true,
		},
		Filesystem: FilesystemConfig{
			StatfsTimeout:      5 * time.Second,
			MountPointsExclude: DefaultMountPointsExclude,
			FSTypesExclude:     DefaultFSTypesExclude,
		},
		Diskstats:        DiskstatsConfig{DeviceExclude: DefaultDiskDeviceExclude},
		VMStat:           VMStatConfig{Fields: DefaultVMStatFields},
		Netstat:          NetstatConfig{Fields: DefaultNetstatFields},
		MaxHeldSnapshots: 4,
	}
}

// Validate reports every problem of the configuration, each prefixed with its
// key path inside the hostmetrics section.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.Interval <= 0 {
		bad("interval", "must be > 0, got %s", c.Interval)
	}
	for _, p := range []struct{ key, val string }{{"proc", c.Proc}, {"sys", c.Sys}, {"rootfs", c.RootFS}} {
		switch {
		case p.val == "":
			bad(p.key, "must not be empty")
		case !filepath.IsAbs(p.val):
			bad(p.key, "must be an absolute path, got %q", p.val)
		}
	}
	if c.Filesystem.StatfsTimeout <= 0 {
		bad("filesystem.statfs_timeout", "must be > 0, got %s", c.Filesystem.StatfsTimeout)
	}
	for _, r := range []struct{ key, val string }{
		{"filesystem.mount_points_exclude", c.Filesystem.MountPointsExclude},
		{"filesystem.fs_types_exclude", c.Filesystem.FSTypesExclude},
		{"diskstats.device_exclude", c.Diskstats.DeviceExclude},
		{"netdev.device_exclude", c.Netdev.DeviceExclude},
		{"vmstat.fields", c.VMStat.Fields},
		{"netstat.fields", c.Netstat.Fields},
	} {
		if _, err := regexp.Compile(r.val); err != nil {
			bad(r.key, "not a regular expression: %v", err)
		}
	}
	if c.MaxHeldSnapshots < 1 {
		bad("max_held_snapshots", "must be >= 1, got %d", c.MaxHeldSnapshots)
	}
	return errors.Join(errs...)
}

// compileOptional compiles an exclude expression; "" matches nothing.
func compileOptional(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile(expr)
}
