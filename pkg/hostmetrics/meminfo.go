package hostmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

// meminfoField is one /proc/meminfo field and its node_exporter family.
type meminfoField struct {
	d   *desc
	get func(m *procfs.Meminfo) *uint64
}

func memField(key string, get func(m *procfs.Meminfo) *uint64) meminfoField {
	return meminfoField{
		d:   newDesc("node_memory_"+key, "Memory information field "+key+".", prometheus.GaugeValue),
		get: get,
	}
}

// meminfoFields are the fields node_exporter reports, with its names (the
// kernel's, parentheses turned into underscores, kB fields in bytes).
var meminfoFields = []meminfoField{
	memField("Active_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveBytes }),
	memField("Active_anon_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveAnonBytes }),
	memField("Active_file_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveFileBytes }),
	memField("AnonHugePages_bytes", func(m *procfs.Meminfo) *uint64 { return m.AnonHugePagesBytes }),
	memField("AnonPages_bytes", func(m *procfs.Meminfo) *uint64 { return m.AnonPagesBytes }),
	memField("Bounce_bytes", func(m *procfs.Meminfo) *uint64 { return m.BounceBytes }),
	memField("Buffers_bytes", func(m *procfs.Meminfo) *uint64 { return m.BuffersBytes }),
	memField("Cached_bytes", func(m *procfs.Meminfo) *uint64 { return m.CachedBytes }),
	memField("CmaFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.CmaFreeBytes }),
	memField("CmaTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.CmaTotalBytes }),
	memField("CommitLimit_bytes", func(m *procfs.Meminfo) *uint64 { return m.CommitLimitBytes }),
	memField("Committed_AS_bytes", func(m *procfs.Meminfo) *uint64 { return m.CommittedASBytes }),
	memField("DirectMap1G_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap1GBytes }),
	memField("DirectMap2M_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap2MBytes }),
	memField("DirectMap4k_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap4kBytes }),
	memField("Dirty_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirtyBytes }),
	memField("HardwareCorrupted_bytes", func(m *procfs.Meminfo) *uint64 { return m.HardwareCorruptedBytes }),
	memField("Hugepagesize_bytes", func(m *procfs.Meminfo) *uint64 { return m.HugepagesizeBytes }),
	memField("Inactive_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveBytes }),
	memField("Inactive_anon_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveAnonBytes }),
	memField("Inactive_file_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveFileBytes }),
	memField("KernelStack_bytes", func(m *procfs.Meminfo) *uint64 { return m.KernelStackBytes }),
	memField("Mapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.MappedBytes }),
	memField("MemAvailable_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemAvailableBytes }),
	memField("MemFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemFreeBytes }),
	memField("MemTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemTotalBytes }),
	memField("Mlocked_bytes", func(m *procfs.Meminfo) *uint64 { return m.MlockedBytes }),
	memField("NFS_Unstable_bytes", func(m *procfs.Meminfo) *uint64 { return m.NFSUnstableBytes }),
	memField("PageTables_bytes", func(m *procfs.Meminfo) *uint64 { return m.PageTablesBytes }),
	memField("Percpu_bytes", func(m *procfs.Meminfo) *uint64 { return m.PercpuBytes }),
	memField("SReclaimable_bytes", func(m *procfs.Meminfo) *uint64 { return m.SReclaimableBytes }),
	memField("SUnreclaim_bytes", func(m *procfs.Meminfo) *uint64 { return m.SUnreclaimBytes }),
	memField("Shmem_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemBytes }),
	memField("ShmemHugePages_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemHugePagesBytes }),
	memField("ShmemPmdMapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemPmdMappedBytes }),
	memField("Slab_bytes", func(m *procfs.Meminfo) *uint64 { return m.SlabBytes }),
	memField("SwapCached_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapCachedBytes }),
	memField("SwapFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapFreeBytes }),
	memField("SwapTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapTotalBytes }),
	memField("Unevictable_bytes", func(m *procfs.Meminfo) *uint64 { return m.UnevictableBytes }),
	memField("VmallocChunk_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocChunkBytes }),
	memField("VmallocTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocTotalBytes }),
	memField("VmallocUsed_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocUsedBytes }),
	memField("Writeback_bytes", func(m *procfs.Meminfo) *uint64 { return m.WritebackBytes }),
	memField("WritebackTmp_bytes", func(m *procfs.Meminfo) *uint64 { return m.WritebackTmpBytes }),
	memField("Zswap_bytes", func(m *procfs.Meminfo) *uint64 { return m.ZswapBytes }),
	memField("Zswapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.ZswappedBytes }),
	// Counts of huge pages, not sizes: no _bytes suffix.
	memField("HugePages_Free", func(m *procfs.Meminfo) *uint64 { return m.HugePagesFree }),
	memField("HugePages_Rsvd", func(m *procfs.Meminfo) *uint64 { return m.HugePagesRsvd }),
	memField("HugePages_Surp", func(m *procfs.Meminfo) *uint64 { return m.HugePagesSurp }),
	memField("HugePages_Total", func(m *procfs.Meminfo) *uint64 { return m.HugePagesTotal }),
}

// meminfoCollector reports <proc>/meminfo.
type meminfoCollector struct{ proc string }

func (c *meminfoCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	m, err := fs.Meminfo()
	if err != nil {
		return err
	}
	emitMeminfo(e, &m)
	return nil
}

// emitMeminfo reports each field the kernel has; absent ones are left out.
func emitMeminfo(e *emitter, m *procfs.Meminfo) {
	for _, f := range meminfoFields {
		if v := f.get(m); v != nil {
			e.emit(f.d, float64(*v))
		}
	}
}
