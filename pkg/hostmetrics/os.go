package hostmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	osInfoDesc = newDesc("node_os_info",
		"A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, "+
			"name, pretty_name, variant, variant_id, version, version_codename, version_id.",
		prometheus.GaugeValue, "build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
		"variant", "variant_id", "version", "version_codename", "version_id")
	osVersionDesc = newDesc("node_os_version", "Metric containing the major.minor part of the OS version.",
		prometheus.GaugeValue, "id", "id_like", "name")
	osSupportEndDesc = newDesc("node_os_support_end_timestamp_seconds",
		"Metric containing the end-of-life date timestamp of the OS.", prometheus.GaugeValue)
)

// osVersionRE is node_exporter's major.minor of VERSION_ID.
var osVersionRE = regexp.MustCompile(`^[0-9]+\.?[0-9]*`)

// osCollector reports the host's os-release(5): <rootfs>/etc/os-release, or
// <rootfs>/usr/lib/os-release when there is none.
type osCollector struct{ rootfs string }

func (c *osCollector) collect(e *emitter) error {
	var b []byte
	var err error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if b, err = readFile(filepath.Join(c.rootfs, p)); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	return emitOS(e, parseOSRelease(b))
}

func emitOS(e *emitter, r map[string]string) error {
	e.emit(osInfoDesc, 1, r["BUILD_ID"], r["ID"], r["ID_LIKE"], r["IMAGE_ID"], r["IMAGE_VERSION"], r["NAME"],
		r["PRETTY_NAME"], r["VARIANT"], r["VARIANT_ID"], r["VERSION"], r["VERSION_CODENAME"], r["VERSION_ID"])
	if mm := osVersionRE.FindString(r["VERSION_ID"]); mm != "" {
		if v, err := strconv.ParseFloat(mm, 64); err == nil && v > 0 {
			e.emit(osVersionDesc, v, r["ID"], r["ID_LIKE"], r["NAME"])
		}
	}
	if end := r["SUPPORT_END"]; end != "" {
		t, err := time.Parse(time.DateOnly, end)
		if err != nil {
			return fmt.Errorf("os-release SUPPORT_END: %w", err)
		}
		e.emit(osSupportEndDesc, float64(t.Unix()))
	}
	return nil
}

// parseOSRelease reads os-release(5) assignments: KEY=value, the value
// unquoted or in single or double quotes, with backslash escapes of $ " \
// ` inside double quotes and outside quotes; # starts a comment line.
// Lines it cannot read are skipped, as systemd's parser does.
func parseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	for line := range bytes.Lines(b) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok || !validMetricName(k) {
			continue
		}
		if v, ok := unquoteShell(v); ok {
			out[k] = v
		}
	}
	return out
}

// unquoteShell undoes the shell quoting os-release allows; ok is false for
// an unterminated quote.
func unquoteShell(s string) (string, bool) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", false
			}
			sb.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$\"\\`", s[i+1]) >= 0 {
					i++
				}
				sb.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", false
			}
		case '\\':
			if i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), true
}
