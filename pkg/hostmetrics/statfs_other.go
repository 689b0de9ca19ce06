//go:build !linux

package hostmetrics

import "errors"

var errNotLinux = errors.New("host metrics need Linux")

func statfs(string) (fsStat, error) { return fsStat{}, errNotLinux }

func machine() (string, error) { return "", errNotLinux }
