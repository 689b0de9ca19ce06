//go:build !linux

package e2eharness

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere an agent
// outlives a test process that is killed.
func dieWithParent() *syscall.SysProcAttr { return nil }
