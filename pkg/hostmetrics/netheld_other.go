//go:build !linux

package hostmetrics

import "os"

// netHeld holds no files off Linux: every attribute is read by its path.
type netHeld struct{}

type heldDev struct{}

func newNetHeld(string) *netHeld          { return nil }
func (h *netHeld) acquire() bool          { return false }
func (h *netHeld) device(uint64) *heldDev { return nil }
func (h *netHeld) release()               {}
func (h *netHeld) closeAll()              {}

// devReader reads the attributes of one device through its directory,
// opened on the first need.
type devReader struct {
	path string
	dir  *attrDir
	h    *netHeld
	dev  *heldDev
}

func (r *devReader) read(k int) (string, error) {
	if r.dir == nil {
		d, err := openAttrDir(r.path)
		if err != nil {
			return "", netDirError{err}
		}
		r.dir = d
	}
	return r.dir.read(netclassAttrs[k])
}

func (r *devReader) close() {
	if r.dir != nil {
		r.dir.close()
		r.dir = nil
	}
}

// netDevEnt is an entry of <sys>/class/net.
type netDevEnt struct {
	name    string
	ino     uint64
	regular bool
}

func listNetDevices(dir string) ([]netDevEnt, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]netDevEnt, len(ents))
	for k, e := range ents {
		out[k] = netDevEnt{name: e.Name(), regular: e.Type().IsRegular()}
	}
	return out, nil
}
