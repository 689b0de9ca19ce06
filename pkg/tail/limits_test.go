package tail

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

func TestParseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    RateLimit
		wantErr string
	}{
		{in: "none", want: RateLimit{}},
		{in: "lines=1000", want: RateLimit{LinesPerSecond: 1000}},
		{in: " lines = 1000 , bytes=1Mi ,policy=drop", want: RateLimit{LinesPerSecond: 1000, BytesPerSecond: 1 << 20, Policy: PolicyDrop}},
		{in: "bytes=2k,burst_bytes=4Ki", want: RateLimit{BytesPerSecond: 2000, BurstBytes: 4096}},
		{in: "lines=0.5,burst_lines=3,policy=defer", want: RateLimit{LinesPerSecond: 0.5, BurstLines: 3, Policy: PolicyDefer}},
		{in: "bytes=1G", want: RateLimit{BytesPerSecond: 1e9}},
		{in: "", wantErr: "not key=value"},
		{in: "lines", wantErr: "not key=value"},
		{in: "lines=", wantErr: "not key=value"},
		{in: "lines=-1", wantErr: "not a number > 0"},
		{in: "lines=NaN", wantErr: "not a number > 0"},
		{in: "lines=Inf", wantErr: "not a number > 0"},
		{in: "lines=1Mi", wantErr: "not a number > 0"}, // units are for bytes
		{in: "lines=1,lines=2", wantErr: "given twice"},
		{in: "rate=1", wantErr: "unknown key"},
		{in: "lines=1,policy=slow", wantErr: "policy"},
		{in: "policy=drop", wantErr: "set lines or bytes"},
		{in: "bytes=1e16", wantErr: "at most 1e15"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRateLimit(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzParseRateLimit: any annotation either parses into a valid limit
// whose String parses back to the same limit, or is an error.
func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"none", "lines=1000", "bytes=1Mi,policy=drop", "lines=1,burst_lines=5,bytes=3k,burst_bytes=9Gi", "x=y,,", "lines=1e308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRateLimit(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%q parsed into an invalid limit: %v", s, err)
		}
		back, err := ParseRateLimit(r.String())
		if err != nil {
			t.Fatalf("%q: String %q does not parse: %v", s, r.String(), err)
		}
		if r.Policy == "" {
			r.Policy = PolicyDefer // String names the default
		}
		if !r.Limited() {
			r.Policy = ""
		}
		if back != r {
			t.Fatalf("%q: %+v, String %q parses to %+v", s, r, r.String(), back)
		}
	})
}

func TestLimitsConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.RateLimit.Default = RateLimit{LinesPerSecond: -1, Policy: "later"}
	c.RateLimit.Namespaces = map[string]RateLimit{"kube-system": {BurstBytes: -2}}
	c.RateLimit.SummaryInterval = 0
	c.RateLimit.Selectors = []SelectorLimit{{Limit: RateLimit{LinesPerSecond: 1}}, {MatchLabels: map[string]string{"a": "b"}, Limit: RateLimit{Policy: "x"}}}
	err := c.Validate()
	for _, want := range []string{"rate_limit.default.lines_per_second", "rate_limit.default.policy",
		"rate_limit.selectors[0].match_labels", "rate_limit.selectors[1].limit.policy",
		"rate_limit.namespaces.kube-system.burst_bytes", "rate_limit.summary_interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want a problem with %s", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

// TestBucket: refill at the rate up to the burst, and the time at which a
// read's worth (read_interval of tokens) is back.
func TestBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if b := newBucket(0, 10, time.Now()); b != nil || b.avail() != math.MaxInt64 {
			t.Fatal("a zero rate limits something")
		}
		b := newBucket(100, 0, time.Now()) // burst: one second
		if got := b.avail(); got != 100 {
			t.Fatalf("a new bucket holds %d, want its burst 100", got)
		}
		b.take(100)
		if at := b.readyAt(time.Now(), 200*time.Millisecond); at.Sub(time.Now()) != 200*time.Millisecond {
			t.Errorf("ready in %v, want 200ms (20 tokens at 100/s)", at.Sub(time.Now()))
		}
		time.Sleep(50 * time.Millisecond)
		b.refill(time.Now())
		if got := b.avail(); got != 5 {
			t.Errorf("after 50ms: %d tokens, want 5", got)
		}
		time.Sleep(10 * time.Second)
		b.refill(time.Now())
		if got := b.avail(); got != 100 {
			t.Errorf("after 10s: %d tokens, want the burst 100", got)
		}
		slow := newBucket(0.5, 0, time.Now()) // burst: at least one token
		if got := slow.avail(); got != 1 {
			t.Errorf("0.5/s: burst %d, want 1", got)
		}
	})
}

func TestCutLines(t *testing.T) {
	p := []byte("a\nbb\nccc\ndd")
	for _, tc := range []struct {
		n          int64
		keep       int
		wantCount  int64
		wantString string
	}{
		{0, 0, 0, ""},
		{1, 2, 1, "a\n"},
		{2, 5, 2, "a\nbb\n"},
		{3, 9, 3, "a\nbb\nccc\n"},
		{9, len(p), 3, string(p)}, // the unterminated rest is kept: it is no line yet
	} {
		keep, c := cutLines(p, tc.n)
		if keep != tc.keep || c != tc.wantCount || string(p[:keep]) != tc.wantString {
			t.Errorf("cutLines(%d) = %d, %d; want %d, %d", tc.n, keep, c, tc.keep, tc.wantCount)
		}
	}
}

// pods gives annotations and labels by pod directory.
type pods struct {
	annotations map[string]string
	labels      map[string]map[string]string
}

func (p pods) RateLimitAnnotation(path string) (string, bool) {
	v, ok := p.annotations[filepath.Base(filepath.Dir(filepath.Dir(path)))]
	return v, ok
}

func (p pods) PodLabels(path string) map[string]string {
	return p.labels[filepath.Base(filepath.Dir(filepath.Dir(path)))]
}

// TestLimitResolution: annotation, else the first matching selector, else
// namespace, else default; an invalid annotation falls back.
func TestLimitResolution(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.Default = RateLimit{LinesPerSecond: 100}
	cfg.RateLimit.Namespaces = map[string]RateLimit{"batch": {BytesPerSecond: 5000, Policy: PolicyDrop}, "free": {}}
	cfg.RateLimit.Selectors = []SelectorLimit{
		{MatchLabels: map[string]string{"tier": "debug", "team": "a"}, Limit: RateLimit{LinesPerSecond: 1}},
		{MatchLabels: map[string]string{"tier": "debug"}, Limit: RateLimit{LinesPerSecond: 2}},
	}
	src := pods{
		annotations: map[string]string{"shop_web_uid1": "lines=7,policy=drop", "shop_bad_uid2": "lines=fast", "batch_none_uid3": "none", "shop_both_uid9": "lines=9"},
		labels: map[string]map[string]string{
			"shop_a_uid7": {"tier": "debug", "team": "a"}, "batch_b_uid8": {"tier": "debug", "team": "b"},
			"shop_both_uid9": {"tier": "debug"}, "shop_c_uid10": {"tier": "prod"},
		},
	}
	tl, err := New(cfg, nil, make(chan<- []event.Log), Options{Limits: src})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want RateLimit
	}{
		{"/l/shop_web_uid1/app/0.log", RateLimit{LinesPerSecond: 7, Policy: PolicyDrop}},
		{"/l/shop_bad_uid2/app/0.log", RateLimit{LinesPerSecond: 100}},
		{"/l/batch_none_uid3/app/0.log", RateLimit{}},
		{"/l/batch_job_uid4/app/0.log", RateLimit{BytesPerSecond: 5000, Policy: PolicyDrop}},
		{"/l/free_x_uid5/app/0.log", RateLimit{}},
		{"/l/other_y_uid6/app/0.log", RateLimit{LinesPerSecond: 100}},
		{"/l/shop_a_uid7/app/0.log", RateLimit{LinesPerSecond: 1}},    // the first selector matching
		{"/l/batch_b_uid8/app/0.log", RateLimit{LinesPerSecond: 2}},   // a selector before the namespace
		{"/l/shop_both_uid9/app/0.log", RateLimit{LinesPerSecond: 9}}, // the annotation before a selector
		{"/l/shop_c_uid10/app/0.log", RateLimit{LinesPerSecond: 100}},
		{"/elsewhere/app.log", RateLimit{LinesPerSecond: 100}},
	} {
		f := &follower{}
		f.dec.path = tc.path
		l := tl.limiterFor(f, time.Now())
		if diff := cmp.Diff(tc.want, l.lim); diff != "" {
			t.Errorf("%s (-want +got)\n%s", tc.path, diff)
		}
	}
	if key, ns, name := containerOf("/var/log/pods/shop_web-0_0b5c/nginx/3.log"); key != "/var/log/pods/shop_web-0_0b5c/nginx" || ns != "shop" || name != "shop/web-0/nginx" {
		t.Errorf("containerOf: %q %q %q", key, ns, name)
	}
}

// learning is a LimitSource that learns a pod's annotation after the
// container's file was opened, as the agent does from its enriched lines.
type learning struct {
	pods
	gen uint64
}

func (l *learning) Generation() uint64 { return l.gen }

// TestLimitAppliesWhenLearnt: a container's limit is resolved again at the
// first tick after the source's generation moved, not a rescan_interval
// later (a Job of six seconds had shipped most of its lines unlimited on
// a real node before its annotation was looked at again).
func TestLimitAppliesWhenLearnt(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RescanInterval = time.Hour
	cfg.RateLimit.Selectors = []SelectorLimit{{MatchLabels: map[string]string{"tier": "loud"}, Limit: RateLimit{LinesPerSecond: 5}}}
	src := &learning{pods: pods{annotations: map[string]string{}, labels: map[string]map[string]string{}}}
	tl, err := New(cfg, nil, make(chan<- []event.Log), Options{Limits: src})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	chatty, loud := &follower{}, &follower{}
	chatty.dec.path, loud.dec.path = "/l/shop_chatty_uid1/main/0.log", "/l/shop_loud_uid2/main/0.log"
	chatty.lim, loud.lim = tl.limiterFor(chatty, now), tl.limiterFor(loud, now)
	if chatty.lim.lim.Limited() || loud.lim.lim.Limited() {
		t.Fatalf("limited before anything was learnt: %v, %v", chatty.lim.lim, loud.lim.lim)
	}
	tl.limitTick(now.Add(time.Second))
	src.annotations["shop_chatty_uid1"] = "lines=7,policy=drop"
	src.labels["shop_loud_uid2"] = map[string]string{"tier": "loud"}
	tl.limitTick(now.Add(2 * time.Second)) // the generation did not move: nothing asked
	if chatty.lim.lim.Limited() {
		t.Fatalf("resolved again without the generation moving")
	}
	src.gen++
	tl.limitTick(now.Add(3 * time.Second))
	if want := (RateLimit{LinesPerSecond: 7, Policy: PolicyDrop}); chatty.lim.lim != want {
		t.Errorf("chatty: %v after the generation moved, want %v", chatty.lim.lim, want)
	}
	if want := (RateLimit{LinesPerSecond: 5}); loud.lim.lim != want {
		t.Errorf("loud: %v after the generation moved, want %v (its selector)", loud.lim.lim, want)
	}
}

// limitConfig is a configuration for the rate-limit scenarios, which run
// under testing/synctest with polling only.
func limitConfig(dir, state string, lim RateLimit) Config {
	c := testConfig(dir, state)
	c.ReadInterval = 100 * time.Millisecond
	c.PollInterval = 100 * time.Millisecond
	c.RescanInterval = time.Second
	c.CommitInterval = time.Second
	c.RateLimit.Default = lim
	c.RateLimit.SummaryInterval = time.Second
	return c
}

func startPolling(t *testing.T, cfg Config) *runner {
	return startPollingLog(t, cfg, nil)
}

func startPollingLog(t *testing.T, cfg Config, logger *slog.Logger) *runner {
	return startRunnerTuned(t, cfg, Options{}, logger, func(tl *Tailer) { tl.pollOnly = true })
}

// noisyLines is lines from..to of the noisy container.
func noisyLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(criLine("stdout", "F", "seq="+strconv.Itoa(i)+" noisy"))
	}
	return b.String()
}

func countPrefix(recs []rec, dir string) (n int, seqsInOrder bool) {
	seqsInOrder = true
	next := 0
	for _, r := range recs {
		if !strings.Contains(r.path, "/"+dir+"/") {
			continue
		}
		s, ok := seqOf(r.body)
		if !ok || s != next {
			seqsInOrder = false
		}
		next++
		n++
	}
	return n, seqsInOrder
}

// TestNoisyNeighbourDeferred is the noisy-neighbour scenario under a
// fake clock: one container writes 5,000 lines/s for 10 s next to 50
// containers writing 10 lines/s each; every container is limited to 1,000
// lines/s (burst 1,000), policy defer. Each second the quiet containers'
// lines all arrive; the noisy one is shipped at its limit (never more
// than burst + rate x elapsed, and at least 95% of the rate each second
// once it is behind); after the writers stop, the noisy container's file
// is read to its end: every line arrives once, in order, nothing lost.
func TestNoisyNeighbourDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate, quiet, seconds, noisyPerTick = 1000, 50, 10, 500
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate})
		noisy := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, noisy, "")
		quietPaths := make([]string, quiet)
		for i := range quietPaths {
			quietPaths[i] = mkContainer(t, dir, fmt.Sprintf("ns_quiet%d_uid", i))
			appendFile(t, quietPaths[i], "")
		}
		logs := &lockedBuffer{}
		r := startPollingLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		synctest.Wait()
		start := time.Now()
		written, quietWritten := 0, 0
		var perSecond []int
		prev := 0
		for tick := 1; tick <= seconds*10; tick++ { // every 100ms
			appendFile(t, noisy, noisyLines(written, written+noisyPerTick))
			written += noisyPerTick
			for i, p := range quietPaths {
				appendFile(t, p, criLine("stdout", "F", fmt.Sprintf("quiet %d %d", i, tick)))
			}
			quietWritten += quiet
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			if tick%10 != 0 {
				continue
			}
			recs := r.snapshot()
			n, inOrder := countPrefix(recs, "ns_noisy_uid")
			if !inOrder {
				t.Fatalf("noisy lines out of order or repeated")
			}
			perSecond = append(perSecond, n-prev)
			prev = n
			elapsed := time.Since(start).Seconds()
			if float64(n) > rate+rate*elapsed {
				t.Errorf("after %.0fs %d noisy lines shipped, over burst + rate x elapsed = %.0f", elapsed, n, rate+rate*elapsed)
			}
			// Every quiet line written more than a poll ago has arrived.
			if q := len(recs) - n; q < quietWritten-quiet {
				t.Errorf("after %.0fs %d of %d quiet lines arrived", elapsed, q, quietWritten)
			}
		}
		for i, n := range perSecond[1:] {
			if n < rate*95/100 || n > rate*105/100 {
				t.Errorf("second %d: %d noisy lines shipped, want about %d", i+2, n, rate)
			}
		}
		if n, _ := countPrefix(r.snapshot(), "ns_noisy_uid"); n >= written*3/4 {
			t.Fatalf("the noisy container was not held back: %d of %d lines", n, written)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 1 {
			t.Errorf("rate_limited_containers = %v while the noisy one is behind, want 1", g)
		}
		if b := testutil.ToFloat64(r.tl.m.behindMax); b <= 0 {
			t.Errorf("behind_max_bytes = %v while the noisy one is behind", b)
		}
		// The file is the buffer: the rest arrives at the limit.
		for i := 0; i < 2*written/rate; i++ {
			if n, _ := countPrefix(r.snapshot(), "ns_noisy_uid"); n == written {
				break
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		time.Sleep(time.Second) // the episode ends with the read that reaches the end
		synctest.Wait()
		recs := r.snapshot()
		n, inOrder := countPrefix(recs, "ns_noisy_uid")
		if n != written || !inOrder {
			t.Errorf("noisy: %d of %d lines arrived (in order: %v)", n, written, inOrder)
		}
		if q := len(recs) - n; q != quietWritten {
			t.Errorf("quiet: %d of %d lines arrived", q, quietWritten)
		}
		if d := testutil.ToFloat64(r.tl.m.linesDeferred); d < float64(written-2*rate) || d > float64(written) {
			t.Errorf("lines_deferred_total = %v, want most of the %d noisy lines", d, written)
		}
		if lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostRotatedUnread)) + testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostDeleted)); lost != 0 {
			t.Errorf("lost %v bytes", lost)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v once caught up, want 0", g)
		}
		// One episode, warned about when it starts and when it ends,
		// naming the container; the quiet ones are never named.
		out := logs.String()
		for _, want := range []string{`msg="container over its rate limit; reading deferred"`, `msg="container back within its rate limit"`} {
			n := 0
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, want) && strings.Contains(line, " container=ns/noisy/app ") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d warnings %s naming the container, want 1; log:\n%s", n, want, out)
			}
		}
		if strings.Contains(out, "quiet") {
			t.Errorf("a quiet container was warned about:\n%s", out)
		}
		t.Logf("noisy lines shipped per second: %v", perSecond)
		r.stop()
	})
}

var summaryRE = regexp.MustCompile(`^ferry: (\d+) lines \((\d+) bytes\) of this container dropped by its rate limit`)

// TestNoisyNeighbourDropped: the same with policy drop: the noisy
// container's lines over the limit are dropped, and what arrived plus the
// counter equals what was written; the summary records say the same.
func TestNoisyNeighbourDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate, seconds, noisyPerTick = 1000, 5, 500
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: rate, Policy: PolicyDrop})
		noisy := mkContainer(t, dir, "ns_noisy_uid")
		quietPath := mkContainer(t, dir, "ns_quiet_uid")
		appendFile(t, noisy, "")
		appendFile(t, quietPath, "")
		r := startPolling(t, cfg)
		synctest.Wait()
		written := 0
		for tick := 1; tick <= seconds*10; tick++ {
			appendFile(t, noisy, noisyLines(written, written+noisyPerTick))
			written += noisyPerTick
			appendFile(t, quietPath, criLine("stdout", "F", "quiet "+strconv.Itoa(tick)))
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 1 {
			t.Errorf("rate_limited_containers = %v while dropping, want 1", g)
		}
		time.Sleep(3 * cfg.RateLimit.SummaryInterval) // the last summary, and the episode's end
		synctest.Wait()
		var shipped, shippedBytes, quietN, summaries int
		var summarised, summarisedBytes int64
		for _, rc := range r.snapshot() {
			switch {
			case summaryRE.MatchString(rc.body):
				m := summaryRE.FindStringSubmatch(rc.body)
				n, _ := strconv.ParseInt(m[1], 10, 64)
				b, _ := strconv.ParseInt(m[2], 10, 64)
				summarised += n
				summarisedBytes += b
				summaries++
				if !strings.Contains(rc.path, "/ns_noisy_uid/") {
					t.Errorf("summary for %s", rc.path)
				}
			case strings.HasPrefix(rc.body, "quiet "):
				quietN++
			default:
				shipped++
				sq, _ := seqOf(rc.body)
				shippedBytes += len(noisyLines(sq, sq+1))
			}
		}
		dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
		if float64(shipped)+dropped != float64(written) {
			t.Errorf("shipped %d + dropped %v != written %d", shipped, dropped, written)
		}
		if float64(summarised) != dropped || summarisedBytes != int64(len(noisyLines(0, written))-shippedBytes) || dropped == 0 {
			t.Errorf("summaries say %d lines (%d bytes) dropped, the counter %v", summarised, summarisedBytes, dropped)
		}
		if float64(shipped) > rate*(seconds+1)+rate {
			t.Errorf("%d noisy lines shipped in %ds at %d/s", shipped, seconds, rate)
		}
		if summaries < seconds-1 || summaries > seconds+2 {
			t.Errorf("%d summary records for %ds of drops at one per second", summaries, seconds)
		}
		if quietN != seconds*10 {
			t.Errorf("quiet: %d of %d lines", quietN, seconds*10)
		}
		if s := testutil.ToFloat64(r.tl.m.dropSummaries); s != float64(summaries) {
			t.Errorf("drop_summaries_total = %v, %d arrived", s, summaries)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v after the drops stopped, want 0", g)
		}
		t.Logf("written %d, shipped %d, dropped %v in %d summaries", written, shipped, dropped, summaries)
		// Every line was shipped or dropped and summarised: the checkpoint
		// reaches the end of the file, so a restart reads none again.
		r.stop()
		if err := r.tl.Close(); err != nil {
			t.Fatal(err)
		}
		var off int64 = -1
		for _, e := range readState(t, state).Files {
			if strings.Contains(e.Path, "/ns_noisy_uid/") {
				off = e.Offset
			}
		}
		if want := int64(len(noisyLines(0, written))); off != want {
			t.Errorf("noisy file committed to %d, want its end %d", off, want)
		}
	})
}

// TestRotatedUnreadCounted: a deferred container's file is rotated, and
// the rotated file removed (kubelet compresses or deletes it) before the
// limit let it be read: after delete_wait its unread bytes are counted,
// exactly, in lost_bytes_total{reason="rotated_unread"}, and the new file
// is read.
func TestRotatedUnreadCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 100})
		cfg.DeleteWait = 2 * time.Second
		path := mkContainer(t, dir, "ns_noisy_uid")
		first := noisyLines(0, 5000)
		appendFile(t, path, first)
		r := startPolling(t, cfg)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		rotatedPath := path + ".20261205-000000"
		if err := os.Rename(path, rotatedPath); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, noisyLines(100000, 100010))
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if err := os.Remove(rotatedPath); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cfg.DeleteWait + time.Second)
		synctest.Wait()
		var got, delivered int
		for _, rc := range r.snapshot() {
			if s, ok := seqOf(rc.body); ok && s < 100000 {
				if s != got {
					t.Fatalf("line %d arrived as the %dth", s, got)
				}
				got++
				delivered += len(noisyLines(s, s+1))
			}
		}
		lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostRotatedUnread))
		if want := float64(len(first) - delivered); lost != want || lost == 0 {
			t.Errorf("rotated_unread = %v bytes, want %v (%d lines of 5000 read)", lost, want, got)
		}
		t.Logf("%d of 5000 lines read before the rotated file was removed; %v bytes lost", got, lost)
		if d := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostDeleted)); d != 0 {
			t.Errorf("deleted = %v bytes, want them counted as rotated_unread", d)
		}
		// The new file is read at the limit once the rotated one is gone.
		for i := 0; i < 10; i++ {
			if len(r.snapshot()) == got+10 {
				break
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if n := len(r.snapshot()); n != got+10 {
			t.Errorf("%d records, want %d from the rotated file and the new file's 10", n, got)
		}
		r.stop()
	})
}

// TestPerPodAggregate: a limit per pod holds the pod's containers together
// at its rate (policy defer), each getting a fair part of it, while a
// container of another pod is not held back by it.
func TestPerPodAggregate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const rate, seconds, perTick = 1000, 5, 200
		cfg := limitConfig(dir, state, RateLimit{})
		cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: rate}
		app := mkContainer(t, dir, "ns_busy_uid")
		side := filepath.Join(filepath.Dir(filepath.Dir(app)), "side", "0.log")
		if err := os.MkdirAll(filepath.Dir(side), 0o755); err != nil {
			t.Fatal(err)
		}
		other := mkContainer(t, dir, "ns_other_uid")
		for _, p := range []string{app, side, other} {
			appendFile(t, p, "")
		}
		r := startPolling(t, cfg)
		synctest.Wait()
		written, otherWritten := 0, 0
		for tick := 1; tick <= seconds*10; tick++ {
			for _, p := range []string{app, side} {
				appendFile(t, p, noisyLines(written, written+perTick))
			}
			written += perTick
			appendFile(t, other, noisyLines(otherWritten, otherWritten+perTick/4)) // within the limit
			otherWritten += perTick / 4
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		count := map[string]int{}
		for _, rc := range r.snapshot() {
			count[filepath.Base(filepath.Dir(filepath.Dir(rc.path)))+"/"+filepath.Base(filepath.Dir(rc.path))]++
		}
		pod := count["ns_busy_uid/app"] + count["ns_busy_uid/side"]
		if max := rate + rate*seconds; pod > max || pod < rate*seconds*9/10 {
			t.Errorf("the pod shipped %d lines in %ds, want about %d/s (burst %d)", pod, seconds, rate, rate)
		}
		for _, c := range []string{"ns_busy_uid/app", "ns_busy_uid/side"} {
			if count[c] < pod*4/10 {
				t.Errorf("%s shipped %d of the pod's %d lines: not a fair part", c, count[c], pod)
			}
		}
		if count["ns_other_uid/app"] < otherWritten-perTick {
			t.Errorf("the other pod shipped %d of %d lines: held back by a limit not its own", count["ns_other_uid/app"], otherWritten)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 2 {
			t.Errorf("rate_limited_containers = %v, want the pod's 2", g)
		}
		t.Logf("shipped: %v", count)
		r.stop()
	})
}

// TestAggregatesShared: containers of one pod share the pod's aggregate,
// pods of one namespace the namespace's; the last container gone, they
// are forgotten.
func TestAggregatesShared(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 10}
	cfg.RateLimit.PerNamespace = RateLimit{BytesPerSecond: 1000, Policy: PolicyDrop}
	tl, err := New(cfg, nil, make(chan<- []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*follower
	for _, p := range []string{"/l/shop_a_u1/app/0.log", "/l/shop_a_u1/side/0.log", "/l/shop_b_u2/app/0.log", "/l/batch_c_u3/app/0.log"} {
		f := &follower{}
		f.dec.path = p
		f.lim = tl.limiterFor(f, time.Now())
		fs = append(fs, f)
	}
	if fs[0].lim.pod != fs[1].lim.pod || fs[0].lim.pod == fs[2].lim.pod || fs[0].lim.pod.refs != 2 {
		t.Error("the containers of one pod do not share its aggregate alone")
	}
	if fs[0].lim.nsa != fs[2].lim.nsa || fs[0].lim.nsa == fs[3].lim.nsa || fs[0].lim.nsa.refs != 3 {
		t.Error("the pods of one namespace do not share its aggregate alone")
	}
	if got := fs[0].lim.gates(PolicyDefer); len(got) != 1 || got[0] != &fs[0].lim.pod.gate {
		t.Errorf("defer gates: %v, want the pod's", got)
	}
	if got := fs[0].lim.gates(PolicyDrop); len(got) != 1 || got[0] != &fs[0].lim.nsa.gate {
		t.Errorf("drop gates: %v, want the namespace's", got)
	}
	for _, f := range fs {
		tl.releaseLimiter(f, false)
	}
	// Kept until the next tick finds their buckets full (nothing was
	// taken from them here).
	tl.limitTick(time.Now())
	if len(tl.aggregates) != 0 || len(tl.limiters) != 0 {
		t.Errorf("after the last container: %d aggregates, %d limiters", len(tl.aggregates), len(tl.limiters))
	}
}

// TestLimiterOutlivesRotation: a container's budget is not renewed when its
// file is closed and its next one opened (a rotation whose rotated file
// was read to its end first): the limiter is kept, with what was taken
// from it, until its buckets are full again, and only then forgotten.
func TestLimiterOutlivesRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.RateLimit.Default = RateLimit{LinesPerSecond: 100, Policy: PolicyDrop}
		cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 1000}
		tl, err := New(cfg, nil, make(chan<- []event.Log), Options{})
		if err != nil {
			t.Fatal(err)
		}
		f := &follower{}
		f.dec.path = "/l/shop_a_u1/app/0.log"
		f.lim = tl.limiterFor(f, time.Now())
		l := f.lim
		l.lines.take(100) // the burst spent
		l.pod.lines.take(500)
		tl.releaseLimiter(f, false)
		tl.limitTick(time.Now())
		next := &follower{}
		next.dec.path = f.dec.path
		next.lim = tl.limiterFor(next, time.Now())
		if next.lim != l || l.lines.avail() != 0 {
			t.Fatalf("the next file got a new budget: same limiter %v, %d lines available, want 0", next.lim == l, l.lines.avail())
		}
		tl.releaseLimiter(next, false)
		time.Sleep(500 * time.Millisecond)
		if tl.limitTick(time.Now()); len(tl.limiters) != 1 {
			t.Fatalf("forgotten with its bucket half full")
		}
		time.Sleep(600 * time.Millisecond) // its own bucket is full; the pod's (500 of 1000 taken at 1000/s) too
		if tl.limitTick(time.Now()); len(tl.limiters) != 0 || len(tl.aggregates) != 0 {
			t.Errorf("%d limiters, %d aggregates once their buckets are full, want none", len(tl.limiters), len(tl.aggregates))
		}
	})
}

// quietLatencies runs 50 quiet containers (one line each per 100ms) for 5
// fake seconds, next to a noisy one at 5,000 lines/s when noisy is set,
// with a limit of 1,000 lines/s (defer) on every container, and returns
// the quiet lines' write-to-receipt latencies and the noisy lines shipped.
func quietLatencies(t *testing.T, noisy bool) (lat []time.Duration, noisyShipped int) {
	dir, state := t.TempDir(), t.TempDir()
	const quiet, seconds = 50, 5
	cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 1000})
	noisyPath := mkContainer(t, dir, "ns_noisy_uid")
	appendFile(t, noisyPath, "")
	quietPaths := make([]string, quiet)
	for i := range quietPaths {
		quietPaths[i] = mkContainer(t, dir, fmt.Sprintf("ns_quiet%d_uid", i))
		appendFile(t, quietPaths[i], "")
	}
	r := startPolling(t, cfg)
	synctest.Wait()
	writtenAt := map[string]time.Time{}
	written := 0
	for tick := 1; tick <= seconds*10; tick++ {
		if noisy {
			appendFile(t, noisyPath, noisyLines(written, written+500))
			written += 500
		}
		for i, p := range quietPaths {
			body := fmt.Sprintf("quiet %d %d", i, tick)
			appendFile(t, p, criLine("stdout", "F", body))
			writtenAt[body] = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
	}
	time.Sleep(time.Second)
	synctest.Wait()
	for _, rc := range r.snapshot() {
		if w, ok := writtenAt[rc.body]; ok {
			lat = append(lat, rc.at.Sub(w))
			delete(writtenAt, rc.body)
		} else {
			noisyShipped++
		}
	}
	if len(writtenAt) != 0 {
		t.Errorf("%d quiet lines did not arrive", len(writtenAt))
	}
	r.stop()
	slices.Sort(lat)
	return lat, noisyShipped
}

// TestQuietLatencyWithNoisyNeighbour: the quiet containers' p99
// write-to-receipt latency (fake clock: the tailer's scheduling, not CPU)
// with a noisy neighbour held at its limit stays within twice what it is
// without it.
func TestQuietLatencyWithNoisyNeighbour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		alone, _ := quietLatencies(t, false)
		with, shipped := quietLatencies(t, true)
		p99 := func(l []time.Duration) time.Duration { return l[len(l)*99/100] }
		if len(alone) == 0 || len(with) == 0 {
			t.Fatal("no quiet lines")
		}
		if p99(with) > 2*p99(alone) {
			t.Errorf("quiet p99 %v with the noisy neighbour, %v without: more than twice", p99(with), p99(alone))
		}
		if shipped > 1000+1000*6 || shipped < 1000*5 {
			t.Errorf("noisy: %d lines shipped in about 6 s at 1,000/s", shipped)
		}
		t.Logf("quiet p99: %v alone, %v with the noisy neighbour (max %v, %v); noisy shipped %d", p99(alone), p99(with), alone[len(alone)-1], with[len(with)-1], shipped)
	})
}
