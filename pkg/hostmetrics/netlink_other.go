//go:build !linux

package hostmetrics

import "errors"

// dumpLinks has no netlink to ask: netclass reads sysfs.
func dumpLinks() ([]nlLink, error) { return nil, errors.ErrUnsupported }
