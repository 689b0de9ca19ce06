// Package simnode emulates what kubelet and a CRI runtime (containerd,
// CRI-O) do to a node's container log files, for the demo, the end-to-end
// tests and the benchmark: pods whose containers write CRI-format lines
// under <root>/<namespace>_<pod>_<uid>/<container>/0.log, long lines split
// into 16 KiB partials the way containerd splits them, and rotation the
// kubelet way (rename to 0.log.<timestamp>, reopen, gzip the older ones,
// keep a bounded number) or the copytruncate way.
//
// Every logical line carries a sequence number and its own length, so a
// Checker can tell lost, duplicated, reordered and corrupted lines apart.
package simnode

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PartialSize is where containerd splits a long line into partial (P)
// lines: 16 KiB of message per CRI line.
const PartialSize = 16 << 10

// Config describes a simulated node.
type Config struct {
	// Root is the directory playing /var/log/pods.
	Root string
	// Links, when set, is a directory playing /var/log/containers: New
	// makes one symlink per container there, named as the kubelet names
	// them (<pod>_<namespace>_<container>-<id>.log), to its 0.log.
	Links string
	// Pods and ContainersPerPod set how many log files are written at once.
	Pods, ContainersPerPod int
	// LinesPerSecond is each container's rate; 0 writes as fast as possible.
	LinesPerSecond int
	// LongEvery makes every n-th line LongBytes long (split into partials);
	// 0 never.
	LongEvery, LongBytes int
	// RotateBytes rotates a container's 0.log when it reaches this size;
	// 0 never rotates.
	RotateBytes int64
	// Keep is how many rotated files are kept (kubelet's
	// containerLogMaxFiles minus the live one). Default 4.
	Keep int
	// Compress gzips rotated files older than the newest one, as kubelet does.
	Compress bool
	// CopyTruncate rotates by copying 0.log aside and truncating it in
	// place instead of renaming it.
	CopyTruncate bool
	// TraceEvery makes every n-th logical line the first line of a Java
	// stack trace: it is followed by TraceLines-1 lines written the way a
	// JVM prints frames ("\tat ..."), on the same stream, each a logical
	// line of its own (with its own sequence number), so that multiline
	// grouping merges them into one record and a Checker still counts every
	// line. 0 writes no traces.
	TraceEvery int
	// TraceLines is how many lines a trace has, its first included.
	// Default 6.
	TraceLines int
	// Seed makes line content and timing reproducible.
	Seed uint64
	// FirstPod numbers the pods from it (pod names and UIDs carry the
	// number), so that two nodes writing under one root, at different
	// rates, have pods of their own. Default 0.
	FirstPod int
	// PodUID, when set, gives each pod's UID before its directories are laid out, for callers
	// that create the pods in an API server first (the server assigns UIDs). It gets the pod's
	// namespace, name and container names; an error fails New. Nil: a made-up UID.
	PodUID func(namespace, pod string, containers []string) (string, error)
}

// Container is one simulated container and its log directory.
type Container struct {
	Namespace, Pod, UID, Name string
	Dir                       string
	written                   atomic.Int64
	bytes                     atomic.Int64
	rotations                 atomic.Int64
}

// Source is how a Checker names a container's stream of lines.
func (c *Container) Source() string { return c.Namespace + "/" + c.Pod + "/" + c.Name }

// Written is how many logical lines the container has written.
func (c *Container) Written() int64 { return c.written.Load() }

// WrittenBytes is how many bytes of CRI lines the container has written
// (its files' sizes together, had nothing been rotated away).
func (c *Container) WrittenBytes() int64 { return c.bytes.Load() }

// Node is a simulated node: a set of containers writing logs.
type Node struct {
	cfg        Config
	containers []*Container
}

var namespaces = []string{"shop", "payments", "search", "kube-system"}
var containerNames = []string{"app", "sidecar", "proxy"}

// New lays out the pod directories of a simulated node.
func New(cfg Config) (*Node, error) {
	if cfg.Pods <= 0 || cfg.ContainersPerPod <= 0 {
		return nil, fmt.Errorf("simnode: pods and containers per pod must be > 0")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 4
	}
	if cfg.TraceLines <= 1 {
		cfg.TraceLines = 6
	}
	n := &Node{cfg: cfg}
	for p := cfg.FirstPod; p < cfg.FirstPod+cfg.Pods; p++ {
		ns := namespaces[p%len(namespaces)]
		pod := fmt.Sprintf("web-%d-7d9f8c6b5-x%03d", p, p)
		uid := fmt.Sprintf("0b1e2c3d-4e5f-4a6b-8c7d-%012d", p)
		names := make([]string, cfg.ContainersPerPod)
		for c := range names {
			names[c] = containerNames[c%len(containerNames)]
			if c >= len(containerNames) {
				names[c] = fmt.Sprintf("%s-%d", names[c], c)
			}
		}
		if cfg.PodUID != nil {
			var err error
			if uid, err = cfg.PodUID(ns, pod, names); err != nil {
				return nil, fmt.Errorf("simnode: pod %s/%s: %w", ns, pod, err)
			}
		}
		for _, name := range names {
			dir := filepath.Join(cfg.Root, ns+"_"+pod+"_"+uid, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("simnode: %w", err)
			}
			n.containers = append(n.containers, &Container{Namespace: ns, Pod: pod, UID: uid, Name: name, Dir: dir})
			if cfg.Links != "" {
				id := fmt.Sprintf("%064x", len(n.containers))
				if err := os.MkdirAll(cfg.Links, 0o755); err != nil {
					return nil, fmt.Errorf("simnode: %w", err)
				}
				link := filepath.Join(cfg.Links, pod+"_"+ns+"_"+name+"-"+id+".log")
				if err := os.Symlink(filepath.Join(dir, "0.log"), link); err != nil {
					return nil, fmt.Errorf("simnode: %w", err)
				}
			}
		}
	}
	return n, nil
}

// Containers returns the node's containers.
func (n *Node) Containers() []*Container { return n.containers }

// Written is how many logical lines all containers have written.
func (n *Node) Written() int64 {
	var t int64
	for _, c := range n.containers {
		t += c.Written()
	}
	return t
}

// Rotations is how many times any container's log was rotated.
func (n *Node) Rotations() int64 {
	var t int64
	for _, c := range n.containers {
		t += c.rotations.Load()
	}
	return t
}

// Run writes until ctx is done, then closes the files. Every line that was
// counted as written is complete on disk when Run returns.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(n.containers))
	for i, c := range n.containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.write(ctx, c, n.cfg.Seed+uint64(i)); err != nil {
				errs <- fmt.Errorf("simnode: %s: %w", c.Source(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (n *Node) write(ctx context.Context, c *Container, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	path := filepath.Join(c.Dir, "0.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	w := bufio.NewWriterSize(f, 64<<10)
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}

	var tick *time.Ticker
	perTick := 1
	if n.cfg.LinesPerSecond > 0 {
		interval := time.Second / time.Duration(n.cfg.LinesPerSecond)
		if interval < 10*time.Millisecond {
			perTick = int((10 * time.Millisecond) / interval)
			interval = 10 * time.Millisecond
		}
		tick = time.NewTicker(interval)
		defer tick.Stop()
	}
	buf := make([]byte, 0, 256)
	var msg []byte
	traceLeft, traceStream := 0, ""
	for seq := int64(1); ; {
		if tick != nil {
			select {
			case <-ctx.Done():
				return w.Flush()
			case <-tick.C:
			}
		} else if ctx.Err() != nil {
			return w.Flush()
		}
		for k := 0; k < perTick; k++ {
			stream := "stdout"
			if rng.IntN(4) == 0 {
				stream = "stderr"
			}
			length := 40 + rng.IntN(200)
			switch {
			case traceLeft > 0:
				traceLeft--
				stream = traceStream
				msg = AppendTraceLine(msg[:0], c.Source(), seq, length)
			default:
				if n.cfg.LongEvery > 0 && seq%int64(n.cfg.LongEvery) == 0 {
					length = n.cfg.LongBytes
				}
				if n.cfg.TraceEvery > 0 && seq%int64(n.cfg.TraceEvery) == 0 {
					traceLeft, traceStream = n.cfg.TraceLines-1, stream
				}
				msg = AppendLine(msg[:0], c.Source(), seq, length)
			}
			buf = appendCRI(buf[:0], time.Now(), stream, msg)
			nw, err := w.Write(buf)
			if err != nil {
				return err
			}
			size += int64(nw)
			c.bytes.Add(int64(nw))
			c.written.Add(1)
			seq++
			if n.cfg.RotateBytes > 0 && size >= n.cfg.RotateBytes {
				if err := w.Flush(); err != nil {
					return err
				}
				if f, err = n.rotate(c, f, path); err != nil {
					return err
				}
				w.Reset(f)
				size = 0
			}
		}
		// Containers write as they go: what was written reaches the file at
		// once, as a runtime's write(2) per line would (batched per tick).
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// rotate rotates path the kubelet way (or copytruncate) and returns the
// file the container writes to next.
func (n *Node) rotate(c *Container, f *os.File, path string) (*os.File, error) {
	c.rotations.Add(1)
	stamp := time.Now().UTC().Format("20060102-150405.000000000")
	rotated := path + "." + stamp
	if n.cfg.CopyTruncate {
		if err := copyFile(path, rotated); err != nil {
			return nil, err
		}
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
	} else {
		if err := os.Rename(path, rotated); err != nil {
			return nil, err
		}
		f.Close()
		nf, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		f = nf
	}
	return f, n.cleanup(path)
}

// cleanup gzips every rotated file but the newest and keeps at most Keep.
func (n *Node) cleanup(path string) error {
	matches, err := filepath.Glob(path + ".*")
	if err != nil {
		return err
	}
	sort.Strings(matches) // timestamps sort by time
	for len(matches) > n.cfg.Keep {
		os.Remove(matches[0])
		matches = matches[1:]
	}
	if !n.cfg.Compress {
		return nil
	}
	for _, m := range matches[:max(0, len(matches)-1)] {
		if strings.HasSuffix(m, ".gz") {
			continue
		}
		if err := GzipFile(m); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// GzipFile compresses a rotated log file the way the kubelet does: the
// whole .gz is written under a temporary name and renamed into place, then
// the plain file is removed, so a reader never sees a partial .gz and the
// bytes are on disk all the time.
func GzipFile(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".gz.tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".gz"); err != nil {
		return err
	}
	return os.Remove(path)
}

// Line builds the message of a logical line: "seq=N src=S len=L " padded
// with filler to exactly length bytes (or longer when the header alone is).
func Line(src string, seq int64, length int) []byte {
	return AppendLine(make([]byte, 0, max(length, 64)), src, seq, length)
}

// AppendLine appends Line's message to b, for writers that reuse a buffer.
func AppendLine(b []byte, src string, seq int64, length int) []byte {
	start := len(b)
	b = append(b, "seq="...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, " src="...)
	b = append(b, src...)
	b = append(b, " len="...)
	b = strconv.AppendInt(b, int64(length), 10)
	b = append(b, ' ')
	for i := 0; len(b)-start < length; i++ {
		b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789"[i%36])
	}
	return b
}

// TracePrefix begins the frame lines of a trace (AppendTraceLine), as a
// JVM prints them.
const TracePrefix = "\tat "

// AppendTraceLine appends a frame line of a trace: TracePrefix, then
// Line's message of length bytes.
func AppendTraceLine(b []byte, src string, seq int64, length int) []byte {
	return AppendLine(append(b, TracePrefix...), src, seq, length)
}

// IsLine reports whether msg begins like a line of Line or AppendTraceLine
// (a record made of several lines begins with one).
func IsLine(msg string) bool {
	return strings.HasPrefix(strings.TrimPrefix(msg, TracePrefix), "seq=")
}

// ParseLine reads back what Line (or AppendTraceLine) wrote; ok is false
// when msg is not such a line or its length does not match (a corrupted
// line).
func ParseLine(msg []byte) (src string, seq int64, ok bool) {
	s := strings.TrimPrefix(string(msg), TracePrefix)
	msg = msg[len(msg)-len(s):]
	if !strings.HasPrefix(s, "seq=") {
		return "", 0, false
	}
	fields := strings.SplitN(s, " ", 4)
	if len(fields) < 3 {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(strings.TrimPrefix(fields[0], "seq="), 10, 64)
	if err != nil {
		return "", 0, false
	}
	src = strings.TrimPrefix(fields[1], "src=")
	length, err := strconv.Atoi(strings.TrimPrefix(fields[2], "len="))
	if err != nil {
		return "", 0, false
	}
	header := len(fields[0]) + len(fields[1]) + len(fields[2]) + 3
	return src, seq, len(msg) == max(length, header)
}

// AppendCRI appends msg as CRI log lines written at t on stream ("stdout"
// or "stderr"): one full (F) line when it fits in PartialSize, else
// PartialSize pieces marked P and a last piece marked F, as containerd
// writes them.
func AppendCRI(b []byte, t time.Time, stream string, msg []byte) []byte {
	return appendCRI(b, t, stream, msg)
}

// CRILines is how many CRI lines AppendCRI writes for a message of n bytes.
func CRILines(n int) int {
	if n <= PartialSize {
		return 1
	}
	return (n + PartialSize - 1) / PartialSize
}

// appendCRI appends msg as CRI log lines: full (F) when it fits, else
// PartialSize pieces marked P and a last piece marked F.
func appendCRI(b []byte, t time.Time, stream string, msg []byte) []byte {
	var tsb [40]byte
	ts := t.UTC().AppendFormat(tsb[:0], time.RFC3339Nano)
	for {
		tag := "F"
		chunk := msg
		if len(msg) > PartialSize {
			tag, chunk = "P", msg[:PartialSize]
		}
		b = append(b, ts...)
		b = append(b, ' ')
		b = append(b, stream...)
		b = append(b, ' ')
		b = append(b, tag...)
		b = append(b, ' ')
		b = append(b, chunk...)
		b = append(b, '\n')
		msg = msg[len(chunk):]
		if tag == "F" {
			return b
		}
	}
}
