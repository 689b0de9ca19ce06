package hostmetrics

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

// meminfoField is one /proc/meminfo field and its node_exporter family.
type meminfoField struct {
	d      *desc
	kernel string // the field's name in the file, without its colon
	bytes  bool   // a size (procfs' ...Bytes: kB times 1024), not a count (HugePages_*)
	get    func(m *procfs.Meminfo) *uint64
}

func memField(kernel, key string, get func(m *procfs.Meminfo) *uint64) meminfoField {
	return meminfoField{
		d:      newDesc("node_memory_"+key, "Memory information field "+key+".", prometheus.GaugeValue),
		kernel: kernel,
		bytes:  !strings.HasPrefix(kernel, "HugePages_"),
		get:    get,
	}
}

// meminfoFields are the fields node_exporter reports, with its names (the
// kernel's, parentheses turned into underscores, kB fields in bytes).
var meminfoFields = []meminfoField{
	memField("Active", "Active_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveBytes }),
	memField("Active(anon)", "Active_anon_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveAnonBytes }),
	memField("Active(file)", "Active_file_bytes", func(m *procfs.Meminfo) *uint64 { return m.ActiveFileBytes }),
	memField("AnonHugePages", "AnonHugePages_bytes", func(m *procfs.Meminfo) *uint64 { return m.AnonHugePagesBytes }),
	memField("AnonPages", "AnonPages_bytes", func(m *procfs.Meminfo) *uint64 { return m.AnonPagesBytes }),
	memField("Bounce", "Bounce_bytes", func(m *procfs.Meminfo) *uint64 { return m.BounceBytes }),
	memField("Buffers", "Buffers_bytes", func(m *procfs.Meminfo) *uint64 { return m.BuffersBytes }),
	memField("Cached", "Cached_bytes", func(m *procfs.Meminfo) *uint64 { return m.CachedBytes }),
	memField("CmaFree", "CmaFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.CmaFreeBytes }),
	memField("CmaTotal", "CmaTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.CmaTotalBytes }),
	memField("CommitLimit", "CommitLimit_bytes", func(m *procfs.Meminfo) *uint64 { return m.CommitLimitBytes }),
	memField("Committed_AS", "Committed_AS_bytes", func(m *procfs.Meminfo) *uint64 { return m.CommittedASBytes }),
	memField("DirectMap1G", "DirectMap1G_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap1GBytes }),
	memField("DirectMap2M", "DirectMap2M_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap2MBytes }),
	memField("DirectMap4k", "DirectMap4k_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirectMap4kBytes }),
	memField("Dirty", "Dirty_bytes", func(m *procfs.Meminfo) *uint64 { return m.DirtyBytes }),
	memField("HardwareCorrupted", "HardwareCorrupted_bytes", func(m *procfs.Meminfo) *uint64 { return m.HardwareCorruptedBytes }),
	memField("Hugepagesize", "Hugepagesize_bytes", func(m *procfs.Meminfo) *uint64 { return m.HugepagesizeBytes }),
	memField("Inactive", "Inactive_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveBytes }),
	memField("Inactive(anon)", "Inactive_anon_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveAnonBytes }),
	memField("Inactive(file)", "Inactive_file_bytes", func(m *procfs.Meminfo) *uint64 { return m.InactiveFileBytes }),
	memField("KernelStack", "KernelStack_bytes", func(m *procfs.Meminfo) *uint64 { return m.KernelStackBytes }),
	memField("Mapped", "Mapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.MappedBytes }),
	memField("MemAvailable", "MemAvailable_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemAvailableBytes }),
	memField("MemFree", "MemFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemFreeBytes }),
	memField("MemTotal", "MemTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.MemTotalBytes }),
	memField("Mlocked", "Mlocked_bytes", func(m *procfs.Meminfo) *uint64 { return m.MlockedBytes }),
	memField("NFS_Unstable", "NFS_Unstable_bytes", func(m *procfs.Meminfo) *uint64 { return m.NFSUnstableBytes }),
	memField("PageTables", "PageTables_bytes", func(m *procfs.Meminfo) *uint64 { return m.PageTablesBytes }),
	memField("Percpu", "Percpu_bytes", func(m *procfs.Meminfo) *uint64 { return m.PercpuBytes }),
	memField("SReclaimable", "SReclaimable_bytes", func(m *procfs.Meminfo) *uint64 { return m.SReclaimableBytes }),
	memField("SUnreclaim", "SUnreclaim_bytes", func(m *procfs.Meminfo) *uint64 { return m.SUnreclaimBytes }),
	memField("Shmem", "Shmem_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemBytes }),
	memField("ShmemHugePages", "ShmemHugePages_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemHugePagesBytes }),
	memField("ShmemPmdMapped", "ShmemPmdMapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.ShmemPmdMappedBytes }),
	memField("Slab", "Slab_bytes", func(m *procfs.Meminfo) *uint64 { return m.SlabBytes }),
	memField("SwapCached", "SwapCached_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapCachedBytes }),
	memField("SwapFree", "SwapFree_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapFreeBytes }),
	memField("SwapTotal", "SwapTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.SwapTotalBytes }),
	memField("Unevictable", "Unevictable_bytes", func(m *procfs.Meminfo) *uint64 { return m.UnevictableBytes }),
	memField("VmallocChunk", "VmallocChunk_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocChunkBytes }),
	memField("VmallocTotal", "VmallocTotal_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocTotalBytes }),
	memField("VmallocUsed", "VmallocUsed_bytes", func(m *procfs.Meminfo) *uint64 { return m.VmallocUsedBytes }),
	memField("Writeback", "Writeback_bytes", func(m *procfs.Meminfo) *uint64 { return m.WritebackBytes }),
	memField("WritebackTmp", "WritebackTmp_bytes", func(m *procfs.Meminfo) *uint64 { return m.WritebackTmpBytes }),
	memField("Zswap", "Zswap_bytes", func(m *procfs.Meminfo) *uint64 { return m.ZswapBytes }),
	memField("Zswapped", "Zswapped_bytes", func(m *procfs.Meminfo) *uint64 { return m.ZswappedBytes }),
	// Counts of huge pages, not sizes: no _bytes suffix.
	memField("HugePages_Free", "HugePages_Free", func(m *procfs.Meminfo) *uint64 { return m.HugePagesFree }),
	memField("HugePages_Rsvd", "HugePages_Rsvd", func(m *procfs.Meminfo) *uint64 { return m.HugePagesRsvd }),
	memField("HugePages_Surp", "HugePages_Surp", func(m *procfs.Meminfo) *uint64 { return m.HugePagesSurp }),
	memField("HugePages_Total", "HugePages_Total", func(m *procfs.Meminfo) *uint64 { return m.HugePagesTotal }),
}

// meminfoIndex is the index in meminfoFields of each kernel name.
var meminfoIndex = func() map[string]int {
	m := make(map[string]int, len(meminfoFields))
	for k, f := range meminfoFields {
		m[f.kernel] = k
	}
	return m
}()

// meminfoCollector reports <proc>/meminfo.
type meminfoCollector struct{ proc string }

func (c *meminfoCollector) collect(e *emitter) error {
	var v meminfoValues
	ok := false
	if err := withFile(filepath.Join(c.proc, "meminfo"), func(b []byte) error {
		v, ok = parseMeminfo(b)
		return nil
	}); err == nil && ok {
		for k, f := range meminfoFields {
			if v.have&(1<<k) != 0 {
				e.emit(f.d, float64(v.v[k]))
			}
		}
		return nil
	}
	// Anything but the kernel's lines is procfs' to read and judge.
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

// meminfoValues are the values of meminfoFields in a file, the k-th
// present if bit k of have is set.
type meminfoValues struct {
	v    [64]uint64
	have uint64
}

// parseMeminfo reads the lines "Name: N kB" and "Name: N" (N decimal
// without sign or leading zero, printable ASCII, single spaces or more
// between fields) as procfs does: a name procfs knows sets its field (N
// times 1024 for kB, wrapping around as procfs' does; the last line of a
// name counts), another name is ignored. ok is false for anything else,
// and for a file longer than procfs reads (procfsReadLimit)
// (procfs opens the file through os.Open and reads it with
// bufio.Scanner and strings.Fields: 59 µs a collection on the reference
// machine).
func parseMeminfo(b []byte) (v meminfoValues, ok bool) {
	if len(b) > procfsReadLimit {
		return v, false
	}
	var f [3][]byte
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) > 4096 {
			return v, false
		}
		n := 0
		for len(line) > 0 {
			for len(line) > 0 && line[0] == ' ' {
				line = line[1:]
			}
			k := 0
			for k < len(line) && line[k] != ' ' {
				if line[k] < 0x21 || line[k] > 0x7e {
					return v, false
				}
				k++
			}
			if k == 0 {
				break
			}
			if n == len(f) {
				return v, false
			}
			f[n] = line[:k]
			n++
			line = line[k:]
		}
		if n < 2 || !kernelDecimal(f[1]) {
			return v, false
		}
		name, colon := bytes.CutSuffix(f[0], []byte(":"))
		if !colon {
			return v, false
		}
		x, _ := strconv.ParseUint(string(f[1]), 10, 64)
		xb := x
		if n == 3 {
			if string(f[2]) != "kB" {
				return v, false
			}
			xb = 1024 * x
		}
		k, known := meminfoIndex[string(name)]
		if !known {
			continue
		}
		if meminfoFields[k].bytes {
			v.v[k] = xb
		} else {
			v.v[k] = x
		}
		v.have |= 1 << k
	}
	return v, true
}

// emitMeminfo reports each field the kernel has; absent ones are left out.
func emitMeminfo(e *emitter, m *procfs.Meminfo) {
	for _, f := range meminfoFields {
		if v := f.get(m); v != nil {
			e.emit(f.d, float64(*v))
		}
	}
}
