//go:build !linux

package tail

import "errors"

// notifier takes fsnotify's events on Linux only, where inotify reports
// writes to the files of a watched directory; elsewhere the tailer relies
// on polling (poll_interval) and rescans (rescan_interval) alone.
type notifier struct{}

func newNotifier() (*notifier, error) {
	return nil, errors.New("file notifications are implemented for Linux only")
}

func (*notifier) Wake() <-chan struct{}                           { return nil }
func (*notifier) Arm()                                            {}
func (*notifier) Woken()                                          {}
func (*notifier) Add(string) error                                { return nil }
func (*notifier) Remove(string)                                   {}
func (*notifier) Drain(int, func([]byte), func(notifyEvent)) bool { return false }
func (*notifier) Watching(string) bool                            { return false }
func (*notifier) Dirs() []string                                  { return nil }
func (*notifier) Close() error                                    { return nil }
