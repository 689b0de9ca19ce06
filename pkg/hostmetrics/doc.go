// Package hostmetrics reads a node's health from /proc and /sys, the way
// Prometheus' node_exporter does, and offers it two ways: as a
// prometheus.Collector read at scrape time (the agent's /metrics), and as
// one event.Snapshot per interval for the sink (pkg/ship ships each Metric
// as a record with the snapshot's Time and Node).
//
// # What it guarantees
//
//   - Names, help texts, types and label sets are node_exporter v1.12.1's,
//     checked side by side against the real node_exporter on the same
//     machine (TestNodeExporterParity): node_cpu_seconds_total{cpu,mode},
//     node_memory_MemAvailable_bytes, node_disk_read_bytes_total{device},
//     node_network_receive_bytes_total{device}, node_network_up{device},
//     node_network_speed_bytes{device},
//     node_filesystem_avail_bytes{device,mountpoint,fstype,device_error},
//     node_load1, node_pressure_*, node_vmstat_*, node_netstat_*,
//     node_softnet_*, node_schedstat_*, node_time_seconds, node_timex_*,
//     node_entropy_*, node_cpu_frequency_hertz, node_thermal_zone_temp,
//     node_os_info, node_arp_entries, node_udp_queues,
//     node_kernel_hung_tasks_total, node_selinux_*, node_hwmon_*,
//     node_boot_time_seconds, node_filefd_*, node_uname_info,
//     node_sockstat_*, node_nf_conntrack_*, and per collector
//     node_scrape_collector_duration_seconds{collector} and
//     node_scrape_collector_success{collector}. Existing dashboards and
//     alerts work unchanged. Snapshots ship node_exporter's untyped vmstat
//     and netstat fields as gauges.
//   - One gather path feeds both outlets: a scrape and a snapshot of the
//     same state carry the same families, labels and values.
//   - Each collector (cpu, meminfo, loadavg, diskstats, netdev, filesystem,
//     pressure, vmstat, stat, filefd, uname, sockstat, conntrack,
//     netclass, netstat, softnet, schedstat, time, timex, entropy, cpufreq,
//     thermal_zone, os, arp, udp_queues, kernel_hung, selinux, hwmon) can
//     be turned off, reads only under the configured roots (proc, sys,
//     rootfs; time and timex read the kernel's clock), and has a read step (files, through
//     github.com/prometheus/procfs where it parses them) apart from a pure
//     step that turns what was read into samples.
//   - A missing or unreadable source (no permission, a file of unexpected
//     shape, even one that makes a parser panic) costs only its collector:
//     its metrics are left out, its success gauge is 0, and one warning is
//     logged until it recovers. A source this kernel does not have (no PSI
//     or PSI disabled, no schedstat, no hung-task counter, conntrack not
//     loaded, no net/udp, no hwmon) is "no data": success 0 too, logged at
//     debug level only; a failure that
//     turns into no data is logged once as ended. Nothing here stops the
//     agent, and a malformed file cannot make a scrape fail as a whole
//     (repeated series are dropped, label values are made valid UTF-8).
//   - The node's view, not the pod's: network counters (netdev, sockstat,
//     conntrack, netstat, arp, udp_queues) are read from <proc>/1/net, the
//     network namespace of the host's PID 1, so a pod without hostNetwork
//     reports the node's interfaces when given the host's /proc; netclass
//     reports the devices <sys>/class/net lists, those of the namespace that
//     mounted that sysfs (the host's /sys: the node's), with sysfs' values.
//     It takes most of them from one rtnetlink link dump only where that
//     dump has been seen to show the same devices with the same values
//     (the agent shares that namespace: hostNetwork), and reads sysfs
//     otherwise. Mounts are read from <proc>/1/mountinfo (falling
//     back to the agent's own when PID 1 is hidden) and measured under
//     rootfs, with mount points reported relative to it.
//   - netclass keeps the sysfs attribute files it reads open between
//     collections, at most 256 (a descriptor and a page of kernel memory
//     each), and reads each again at offset 0, which makes sysfs read the
//     value anew: no value is kept, and a file of a device that is gone
//     answers ENODEV, never another device's value (netheld_linux.go).
//   - A statfs that hangs (a dead network mount) is waited for at most
//     filesystem.statfs_timeout, concurrently with every other collector.
//     The mount is then reported with node_filesystem_device_error 1 and
//     device_error="mountpoint timeout", and not statted again until the
//     pending call returns: at most one goroutine per dead mount.
//   - Metrics never take memory from logs: Run never blocks on the sink.
//     At most max_held_snapshots snapshots (bounded further by the capacity
//     of Options.Out) wait for it; when more would, the oldest is dropped and
//     counted in ferry_hostmetrics_snapshots_dropped_total.
//
// # Known limits
//
// node_uname_info's nodename and domainname come from the agent's UTS
// namespace: in a pod without hostNetwork, nodename is the pod's hostname.
// node_time_zone_offset_seconds is the agent's time zone (UTC in the
// image), not the host's. node_netstat_* and node_entropy_* keep
// node_exporter's names, which promtool's lint calls camelCase and not
// base units.
// Label values of node_disk_info that come from udev (path, wwn, model,
// serial, revision) are empty unless <rootfs>/run/udev/data is readable.
// promtool's lint calls meminfo's kernel field names (MemAvailable)
// camelCase; they are kept, as in node_exporter.
//
// Like every package under pkg/, hostmetrics carries no API stability
// promise before v1.
package hostmetrics
