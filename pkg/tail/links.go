package tail

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// # Link directories
//
// The kubelet's /var/log/containers holds one symlink per container,
// <pod>_<namespace>_<container>-<id>.log, to the container's log file
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log. Many log
// agents are set up to read the links, and a glob on their names selects
// namespaces or pods.
//
// An entry of such a link directory (open.go: a symlink directly in an
// include root whose parent has a "pods" directory) is followed as the
// file it names, under the target's path: the link selects the file, the
// target's path is what the tailer knows it by. So kubelet's rotated files
// (0.log.<time>, 0.log.<time>.gz), which lie beside the target and never
// beside the link, are found as for any followed file (two rotations
// between two looks, a rotation while no agent ran), the checkpoint names
// the target, the same file reached by a link and by a pods glob is one
// path, records carry the target's path, and metadata comes from it (the
// pods path names namespace, pod, uid and container; the link's name does
// not name the uid).
//
// A target must lie in that pods directory, and it and its siblings are
// opened beneath it without following any symlink (rootOf). A link whose
// target lies elsewhere is refused and counted, as before. A link's target
// is remembered while its directory is watched, as that directory's
// listing is (glob.go dirCache): a rescan reads no link again, a
// notification about a link forgets what it named (made again, it may name
// another file), and lost notifications and every fullEvery-th rescan
// forget them all. A rescan forgets the links it no longer lists.

// linkMaps are the targets of the link directory entries resolved
// (links), and the link of each target (linkTargets).
type linkMaps struct {
	links       map[string]linkEntry
	linkTargets map[string]string
}

// linkEntry is a link's target, and whether its directory was watched
// before the link was read: only then does a notification tell of a change
// since, and the target may be taken again without reading the link. One
// read while the directory was not watched yet (loadState, before Run's
// first watch; a watch that could not be added) is read again once it is
// (TestHostile67LinkMadeAgainBeforeWatch), as glob.go caches a listing.
type linkEntry struct {
	target  string
	watched bool
}

// linkTarget returns the file path names when path is an entry of a link
// directory: the symlink's target, cleaned, which must lie in that
// directory's pods sibling. isLink is false for anything else (a regular
// file, a path no glob roots directly). err is a refusal (skipError) or
// the error of reading the link.
func (t *Tailer) linkTarget(path string) (target string, isLink bool, err error) {
	if e, ok := t.links[path]; ok && e.watched && t.dirs.watched(filepath.Dir(path)) {
		if t.linkTargets[e.target] == "" {
			// Another link to it forgotten (removed): this one still
			// names it (TestHostile67SecondLinkRemovedStillIncluded).
			t.linkTargets[e.target] = path
		}
		return e.target, true, nil
	}
	root := t.rootOf(path)
	if root == "" || filepath.Dir(path) != root {
		return "", false, nil
	}
	watched := t.dirs.watched(root) // before the read: a change after it is notified
	li, err := os.Lstat(path)
	if err != nil || li.Mode()&os.ModeSymlink == 0 {
		return "", false, nil
	}
	tgt, err := linkBeneath(path, podsBeside(root)) // open.go, as openLink checks it
	if err != nil {
		var se *skipError
		if errors.As(err, &se) && se.reason == skipNotRegular {
			return "", false, nil // replaced by a regular file meanwhile
		}
		return "", true, err
	}
	if t.links == nil {
		t.links, t.linkTargets = make(map[string]linkEntry), make(map[string]string)
	}
	if e, ok := t.links[path]; ok && e.target != tgt && t.linkTargets[e.target] == path {
		delete(t.linkTargets, e.target) // made again, naming another file
	}
	t.links[path], t.linkTargets[tgt] = linkEntry{tgt, watched}, path
	return tgt, true, nil
}

// forgetLink forgets what the link path named (a notification about it:
// it may have been made again, naming another file).
func (t *Tailer) forgetLink(path string) {
	if e, ok := t.links[path]; ok {
		delete(t.links, path)
		if t.linkTargets[e.target] == path {
			delete(t.linkTargets, e.target)
		}
	}
}

// forgetLinks forgets every link's target: notifications were lost, or
// a rescan reads every directory again (glob.go fullEvery).
func (t *Tailer) forgetLinks() {
	clear(t.links)
	clear(t.linkTargets)
}

// pruneLinks forgets the links a rescan did not list.
func (t *Tailer) pruneLinks(listed map[string]bool) {
	for l := range t.links {
		if !listed[l] {
			t.forgetLink(l)
		}
	}
}

// linkRoot is the pods directory beside the link directory of an include
// glob whose entries lie directly in its root ("" if none), for the
// targets of its links and their siblings (rootOf).
func linkRoot(pattern string) string {
	root := includeRoot(pattern)
	if filepath.Dir(filepath.Clean(pattern)) != root {
		return ""
	}
	return podsBeside(root)
}

// linkRootOf is the pods directory of the first link directory among the
// include globs that path lies beneath ("" if none).
func (t *Tailer) linkRootOf(path string) string {
	for _, p := range t.cfg.Include {
		if lr := linkRoot(p); lr != "" && strings.HasPrefix(path, lr+"/") {
			return lr
		}
	}
	return ""
}

// linkFileGone says whether path, a checkpoint entry's path that no link
// names now (not included), is a link directory's file gone with its link
// while no agent ran: beneath the pods directory of a link directory, not
// excluded by its own path, and no file there. Its entries are looked for
// (resumeRotated), so that what was not read of them is counted lost, as
// for the pods glob's files and as when such files were checkpointed under
// their links (TestHostile67PodDeletedWhileStopped). A file still there
// whose link is gone or no longer selected is not read.
func (t *Tailer) linkFileGone(path string) bool {
	if ignoredName(path) || t.excluded(path) || t.linkRootOf(path) == "" {
		return false
	}
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}
