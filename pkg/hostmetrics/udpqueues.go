package hostmetrics

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var udpQueuesDesc = newDesc("node_udp_queues",
	"Number of allocated memory in the kernel for UDP datagrams in bytes.", prometheus.GaugeValue, "queue", "ip")

// udpQueuesCollector sums the send and receive queues of every UDP socket
// in <proc>/1/net/udp and udp6 (the host's network namespace). A host
// without IPv6 reports v4 only.
type udpQueuesCollector struct{ proc string }

func (c *udpQueuesCollector) collect(e *emitter) error {
	pfs, err := newProcFS(filepath.Join(c.proc, "1"))
	if err != nil {
		return err
	}
	found := false
	for _, v := range []struct {
		ip, file string
		read     func() (*procfs.NetUDPSummary, error)
	}{{"v4", "udp", pfs.NetUDPSummary}, {"v6", "udp6", pfs.NetUDP6Summary}} {
		s, err := readUDPSummary(filepath.Join(c.proc, "1", "net", v.file), v.read)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		found = true
		e.emit(udpQueuesDesc, float64(s.TxQueueLength), "tx", v.ip)
		e.emit(udpQueuesDesc, float64(s.RxQueueLength), "rx", v.ip)
	}
	if !found {
		return noData("no net/udp nor net/udp6")
	}
	return nil
}

// readUDPSummary reads path, a <proc>/net/udp or udp6. A file of the
// kernel's lines is summed here; anything else (and any error but a
// missing file) is left to procfs' read, whose answer it then is. procfs
// opens the file through os.Open and parses every field of every line
// into a structure: 140 µs a collection for the two files on the
// reference machine.
func readUDPSummary(path string, read func() (*procfs.NetUDPSummary, error)) (*procfs.NetUDPSummary, error) {
	var s procfs.NetUDPSummary
	ok := false
	err := withFile(path, func(b []byte) error {
		s.TxQueueLength, s.RxQueueLength, ok = parseUDPQueues(b)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil && ok {
		return &s, nil
	}
	return read()
}

// parseUDPQueues sums the tx_queue and rx_queue columns of a
// <proc>/net/udp or udp6: a header line, then lines of at least 13 fields
// as the kernel prints them (udp4_format_sock, udp6_sock_seq_show). It
// checks every field procfs checks, in the kernel's form only (decimal
// numbers without leading zeros, hexadecimal ones of at most 16 digits,
// addresses of 8 or 32 hexadecimal digits, printable ASCII), so that what
// it accepts procfs reads the same; ok is false for anything else.
// Sums wrap around as procfs' do.
func parseUDPQueues(b []byte) (tx, rx uint64, ok bool) {
	header, b, _ := bytes.Cut(b, []byte("\n"))
	if len(header) > 4096 { // bufio.Scanner refuses a line of 64 KiB
		return 0, 0, false
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if len(line) > 4096 {
			return 0, 0, false
		}
		var f [13][]byte
		n := 0
		for len(line) > 0 {
			for len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
				line = line[1:]
			}
			k := 0
			for k < len(line) && line[k] != ' ' && line[k] != '\t' {
				if line[k] < 0x21 || line[k] > 0x7e {
					return 0, 0, false
				}
				k++
			}
			if k == 0 {
				break
			}
			if n < len(f) {
				f[n] = line[:k]
			}
			n++
			line = line[k:]
		}
		if n < len(f) {
			return 0, 0, false
		}
		sl, colon := bytes.CutSuffix(f[0], []byte(":"))
		if !colon || !kernelDecimal(sl) || !kernelDecimal(f[7]) || !kernelDecimal(f[9]) || !kernelDecimal(f[12]) ||
			!socketAddr(f[1]) || !socketAddr(f[2]) {
			return 0, 0, false
		}
		if _, ok := hexUint(f[3]); !ok {
			return 0, 0, false
		}
		t, r, colon := bytes.Cut(f[4], []byte(":"))
		tq, ok1 := hexUint(t)
		rq, ok2 := hexUint(r)
		if !colon || !ok1 || !ok2 {
			return 0, 0, false
		}
		tx += tq
		rx += rq
	}
	return tx, rx, true
}

// kernelDecimal is whether s is an unsigned decimal as the kernel prints
// it (%u, %lu: no sign, no leading zero) that fits in 64 bits: what
// strconv.ParseUint(s, 0, 64) reads as decimal.
func kernelDecimal(s []byte) bool {
	if len(s) == 0 || len(s) > 20 || len(s) > 1 && s[0] == '0' {
		return false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return false
		}
		v = v*10 + d
	}
	return true
}

// hexUint reads 1 to 16 hexadecimal digits, as strconv.ParseUint(s, 16,
// 64) does.
func hexUint(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// socketAddr is whether s is an address and port as the kernel prints
// them in <proc>/net/udp: 8 (IPv4) or 32 (IPv6) hexadecimal digits, a
// colon, a hexadecimal port.
func socketAddr(s []byte) bool {
	ip, port, ok := bytes.Cut(s, []byte(":"))
	if !ok || len(ip) != 8 && len(ip) != 32 {
		return false
	}
	for k := 0; k < len(ip); k += 8 {
		if _, ok := hexUint(ip[k : k+8]); !ok {
			return false
		}
	}
	_, ok = hexUint(port)
	return ok
}
