// Package tail follows every container log file on a node and emits its lines,
// losslessly, through rotation, truncation and restarts.
//
// # What it reads
//
// Files matching the include globs minus the exclude globs (and minus what an
// Excluder rejects) are discovered by file notifications (fsnotify) within about a second and by a
// periodic rescan, because notifications can be dropped (a queue overflow
// triggers a poll and a rescan at once). A rescan does not read again a
// directory that was watched when it was last read and has had no event
// since (its listing is kept, glob.go dirCache): on a node with thousands
// of pods that reading was nearly all of an idle agent's CPU. Lost events
// drop every kept listing (and the watches of directories no longer at
// their paths, which are watched anew), and every twelfth rescan reads all
// directories anyway. Compressed and
// temporary files and kubelet's rotated copies (0.log.20261126-035509) are
// never taken as logs. A file is known by device + inode + a fingerprint of
// its first bytes (up to 1 KiB). An entry of a link directory (the kubelet's
// /var/log/containers symlinks) is read as the file it names, under its
// /var/log/pods path (links.go): its rotated files lie beside that path, the
// checkpoint and records name it, and a file reached both by a link and by
// a pods glob is read once. A file that the Excluder excludes once it is
// open keeps being read.
//
// Reading is coalesced: change notifications only mark a file; a file that was
// read to its end is not read again before read_interval, so a container
// writing one line per write call costs one read per read_interval
// (ferry_tail_reads_total), and every file is checked each poll_interval even
// without a notification. fsnotify's events are taken only when the tailer is
// ready to act on them: while a read is due anyway, they wait in the kernel's
// queue behind fsnotify's goroutine and are taken in one pass, so writes cost
// no wakeups of the tailer. They still wake the process: inotify wakes the Go
// runtime's network poller, which holds its descriptor, once per event. So a
// directory whose every followed file grew at three polls in a row is not
// watched at all while it stays so (busy.go, ferry_tail_polled_dirs): its files
// are read every read_interval without notifications, a rotation there is
// found by the poll, a new file by the rescan; the first poll at which one of
// them did not grow, or a new file followed there, watches it again. A
// directory of links (/var/log/containers) stays watched: writes to the files
// its links name are notified to their own directories, not to it. One file reads at most read_bytes_per_turn before
// the others get their turn. Files rotated before they could be opened (while
// reading was stalled, or while no agent ran) are found beside their path by
// kubelet's naming and read whole, oldest first, before the current file;
// those kubelet compressed meanwhile too (inflated as described below), in
// kubelet's order after the last file read.
//
// # Opening files safely
//
// The log directories hold what workloads and the runtime put there, so a
// file is opened by rules (open.go): below the include root of its glob
// (the part before the first wildcard) every directory and the file itself
// are opened with openat and O_NOFOLLOW, so no symlink - planted, or
// swapped in between the glob and the open - is followed; the only links
// followed are the entries of a link directory (an include root such as
// the kubelet's /var/log/containers whose parent has a "pods" directory),
// and only to targets inside that pods directory. Files are opened
// non-blocking and kept only if fstat on the descriptor says they are
// regular, so a FIFO or a device never blocks or feeds the tailer. Each
// refusal is counted once per path in
// ferry_tail_skipped_files_total{reason} (symlink, outside_root,
// not_regular, hard_link: a file with a second hard link, which kubelet's
// logs never have and which could bring a file from outside the root into
// the tree without any symlink) and warned about.
//
// # Descriptors
//
// Every followed file holds a descriptor, and max_open_files caps them
// (openlimit.go). A file found while the cap is reached waits in a queue,
// oldest first; at each poll, as many files as wait are parked - the ones
// open longest among those at their path, read since they were opened and
// not stopped by the turn budget: the descriptor is closed, the read
// offset, unfinished line and acknowledgement state are kept (so is the
// committed offset in the checkpoint) - and the free descriptors go to the
// front of the queue. A parked file continues where it stopped; if it was
// rotated meanwhile, it is found by inode among its plain rotated siblings
// and finished before the new file. The new file at the path of a rotated
// file that ends with the first fragments of a CRI line does not wait: it
// is opened beyond the cap, as rotated siblings are, so that the line is
// merged. So every file gets a turn at least
// once per (waiting files / max_open_files) polls: lines of a waiting file
// are late, not lost. Only a parked file that is gone from its path and its
// plain siblings when its turn comes (deleted, or rotated and compressed)
// loses what was written to it after it was parked, if anything
// (ferry_tail_lost_files_total{reason="waiting"}); with start_at: end, a
// file found at startup that waited starts at its end as of its turn.
// A turn (one file parked, one opened by the safe open) costs 38-68 µs,
// about a dozen system calls (`go test -run '^$' -bench BenchmarkTurn
// -benchtime=20000x -count=5 ./pkg/tail/`, 1,000 files on 64 descriptors,
// on a 2-core VM under a load average of 6-8): with 1,024 descriptors
// turning over once per poll_interval (1 s), 4-7 % of a core. The default
// cap is above the containers a node runs (kubelet's max-pods is 110), so
// by default files take turns only when descriptors run out.
// Rotated siblings and the
// copy of a copytruncate are opened beyond the cap while they are finished.
// Waiting is gauged (ferry_tail_waiting_files) and counted
// (ferry_tail_descriptor_waits_total). An open that fails for want of
// descriptors (EMFILE, ENFILE) is counted in
// ferry_tail_open_errors_total{reason} and warned about; the file waits in
// the queue and is retried at the next poll, never dropped. Seven eighths
// of the files open at that moment become a ceiling under which files take
// turns the same way (so the files already open cannot keep the others out
// for good, and some descriptors are left to the rest of the process);
// each poll with files waiting probes beyond it, and it rises with each
// probe that succeeds until it reaches max_open_files or no file waits.
//
// # Liveness
//
// Run's loop goes round at least once per poll_interval, also while reading
// pauses for backpressure, and records each round (LastLoop): a LastLoop
// several poll intervals old means the tailer is stuck, which the agent's
// /healthz reports.
//
// # Restarts and rotation while no agent ran
//
// kubelet goes on rotating while the agent is down (a rolling update, an OOM
// kill): it renames 0.log to 0.log.<timestamp>, starts a new 0.log, gzips
// older rotated files (0.log.<timestamp>.gz) and deletes the oldest. At
// startup, per path of the checkpoint (and per path found with no entry),
// the tailer lists the rotated siblings in kubelet's order (by the name
// after "0.log.", a timestamp; names of other rotators, like logrotate's
// 0.log.1 or dockerd's <id>-json.log.1 and .2.gz, by last write; dockerd
// writes <log>.1.gz under that name beside <log>.1, so a start can find it
// half written, and reads the plain file: dockerd_test.go) and looks for
// each checkpointed file among the path and its siblings: a plain file by
// device, inode and fingerprint, a compressed one by the fingerprint of
// its decompressed start. The oldest
// one found is continued from its committed offset and every newer sibling
// is read from 0, in order, before the current file; a new file at the path
// (even one that reuses the old inode) is read from 0 after them. When
// nothing of the oldest one found was read (offset 0, followed while empty),
// the siblings named before it that no entry matched and that were written
// since the checkpoint are read first: copies copytruncate made of it while
// no agent ran (a copy is named when made, before the file's own later
// rotation). A copy made while no agent ran also stands for the entry of
// the file it copied when that file, truncated in place, no longer starts
// as it did: still at the path, or renamed since to a rotated name (a
// rotation, perhaps one kubelet undoes later); it is the copy that is
// continued from the committed offset, the truncated file read from 0
// after it, and nothing is counted lost
// (TestCopytruncatedThenRenamedWhileStopped). A copy the file still holds
// (logrotate's copy, not truncated: no longer than the file, starting as
// it does and ending as it holds at the same offset, or decompressing to
// its first bytes), the file renamed since to a rotated name and resumed
// there from its entry, is not read: the file delivers its lines
// (rotated.go copyOfResumed; TestCopyOfResumedFileRenamedWhileStopped).
// Compression is not loss: a compressed file is decompressed into an
// unlinked temporary file in state_dir (os.TempDir without one), at the same
// offsets, with the part before the committed offset left as a hole, and read
// from there. It is decompressed only when its turn to be read comes, and at
// most two at once, so a restart after a long stop does not take the
// decompressed size of every compressed file from the node's disk; one that
// kubelet deletes before its turn counts in
// ferry_tail_lost_files_total{reason="vanished"}. One that cannot be
// decompressed to its end (cut short, corrupt) is read up to the last
// complete line before the damage, and counts in
// ferry_tail_lost_files_total{reason="corrupt"}. One whose committed offset
// is its end (by the gzip trailer's size) is not decompressed at all: it is
// the path's anchor at once, and its deletion loses nothing; one that
// decompresses to nothing (rotated before anything was written to it) is
// not followed at all. A checkpointed file found nowhere was deleted before it was
// read: it counts in ferry_tail_lost_files_total{reason="vanished"} (its size
// is unknown; a pod directory deleted while stopped counts its files), and
// every remaining sibling written since the checkpoint is then newer than it
// and is read. A path the checkpoint does not name has its siblings last
// written since the agents began to follow the node read: that time (when
// the first agent without state started) is kept beside the checkpoint in
// state_dir/tail.since, so a pod whose log was written and rotated while the last agent ran but
// before it looked is not skipped. The same holds while running: a path
// found for the first time has its rotated siblings written since then read
// before it (kubelet may have rotated it before the tailer looked), and a
// followed path rotated more than once between two looks has the files
// rotated after the one it knew read first: that one is found among the
// siblings by inode (compressed, by first bytes), or, if it was empty
// (compressed, it has no first bytes), by the last rotated file closed (in
// an agent that closed none since its start, by the path's anchor, found
// again at the start: TestRotatedAfterEmptyRefAnchorOnly). The last
// rotated file closed, found again longer than it was read (renamed back
// to the path by an undone rotation, written, and rotated again before
// the tailer looked), is read on from where reading stopped first
// (TestRotatedAfterUndoneAndRotatedAgain); compressed by then, it is
// checkpointed, and anchored once finished, under its own inode's key,
// as its first reading still is until acknowledged: one file's entries,
// of which the next start resumes the lower
// (TestClosedThenContinuedCompressedKilledBeforeAck). A
// file closed empty never replaces the last rotated file closed, nor the
// anchor (below), when those have first bytes: a reference must be
// findable once compressed. A file no longer open counts by its inode only
// with its first bytes (a freed inode is reused). kubelet gzips the older
// rotated file right after a rotation, so a sibling listed plain may be a
// .gz by the time it is looked at: it is then looked at as its .gz, by its
// first bytes, and a compressed sibling that starts as a file still open
// (read through its descriptor) and decompresses to the bytes it holds
// (by the gzip trailer's size and CRC-32) is not read apart. When the
// first scan finds no file at a path (kubelet renamed it and had not
// created the next yet), the newest rotated sibling read at the start
// stands for the path's last file, so that the files rotated after it are
// read when the path's next file is found, and that file after them all. File
// times are compared with two seconds of slack (kernels stamp files from a
// coarse clock), erring towards reading a file again. A checkpoint entry
// written while its file was empty (it has no first bytes to be known by)
// is taken for the current file with its inode only if no file was rotated
// after the checkpoint: otherwise the current file is a new one that reuses
// the inode. Where the file system keeps birth times (statx; ext4, xfs,
// btrfs), a file born after the checkpoint was written is never taken for a
// checkpointed one by its inode; its birth is read with its identity (the
// same descriptor, or the same statx), not by its name later, where a
// rotated file kubelet compressed while the start looked at it no longer is
// (TestEmptyEntryInodeReusedCompressedAtStart). The code is in rotated.go
// and discovery.go.
//
// When the set of files changes (a file followed for the first time, a
// finished one fully acknowledged and forgotten, the first bytes of a file
// that was checkpointed while empty), the checkpoint is written at once (at
// most every 100 ms), not at the next commit_interval: an agent
// killed right after it found a file leaves a checkpoint that names it (so
// that, if kubelet deletes it before the next agent runs, the loss is
// counted), one killed right after kubelet deleted or compressed a
// finished file does not leave it in its checkpoint (to be counted as lost
// by mistake), and one killed right after an empty file got its first
// lines leaves an entry that still knows that file once it is compressed.
// Within that instant, the next agent may still count a file as vanished
// ("if any"). An entry written while its file was empty and not found
// (rotated and compressed since: it has no first bytes to be known by) is
// not counted when it is known to be newer than a file of its path in the
// checkpoint that is still there: an anchor, or, when it was the current
// file (no entry is the file at the path now, and no compressed file that
// no entry names lies before the newest file found), any of them. It was
// then not deleted (kubelet deletes the oldest first) and is read with the
// files after that one. A file rotated while empty is not empty for good
// (the runtime may still write to it for a moment): one older than the
// file found is counted, its lines never having been read. Nor is one
// rotated while empty between two files found (kubelet and Docker rotate
// only files over a size, never an empty one; other rotators may) and
// compressed while no agent ran: the entries of a path do not record
// their files' order, so it is counted as possibly lost, though its
// compressed copy, if it is there, is read.
//
// # Decoding
//
// The format (CRI or docker json-file) is detected per file from its first
// line. Partial lines (CRI "P", docker log values without a final newline) are
// merged per stream until the final fragment of the same stream. A merged
// line longer than max_line_bytes is cut to it, flagged Truncated and counted.
// A line that does not parse is emitted raw with ParseError set and counted;
// nothing is dropped silently. Bodies keep the bytes as written (a CR before
// the newline stays; invalid UTF-8 stays). A line with no newline for more
// than 2*max_line_bytes+64KiB is cut there and the rest of it is skipped, so
// memory does not grow with line length. Such a cut line's cursor is the cut
// (an offset that does not depend on how the file was read), but the offset
// it commits is the start of the line: only line boundaries are committed,
// and a restart inside the line reads it again from its start without
// emitting the cut line a second time or the rest of it as a record.
//
// Unfinished lines (no newline yet, or CRI fragments still being merged)
// are held in memory per file; their total is kept under a budget the size
// of memory.queue_bytes (ferry_tail_unfinished_bytes). A read that leaves
// it over makes the file just read give its unfinished bytes back if it
// holds 16 KiB or more and is still written to (not a merge carried over a
// rotation, see below: its first fragments are in a file already closed):
// it is rewound to where they
// began, the lines it emitted after that point are not emitted again, and
// it is read again from disk only once what it grew by holds a newline
// (ferry_tail_unfinished_spills_total). The file is the buffer (held.go).
//
// # Rotation, truncation, deletion
//
// A renamed file is finished through its open descriptor, then closed; the
// new file at the path is read from 0 only after that, so the lines of one
// path stay in order. Until the runtime reopens the log (kubelet's
// ReopenContainerLog, seconds on a loaded node) the container still writes
// to the renamed file: it is closed only read_interval after a new file
// appeared at its path, or, if none does (the container exited), after a
// minute (one that ends with CRI fragments of a line, not before the new
// file is followed, within that minute: see below). An undone rotation (kubelet renames 0.log.<timestamp>
// back to 0.log when the runtime could not reopen the log) continues where
// reading was, whether the file was still open or already closed: nothing is
// read twice (a closed one is known by its inode, first bytes and birth
// time: a new 0.log that got the inode of a rotated file closed empty and
// deleted since is not it). An open one is taken back by the first look
// that finds its path naming it again, a poll's or its first read's; if
// nothing of it was read, the copies made of it meanwhile (a copytruncate,
// whose creation notice came while it was away) are found by a listing and
// read first (follower.go undone; TestCopyMadeWhileRotationUndone). A
// rotated sibling the start opened away from its path (a rotation being
// undone as the agent started) and found back there as its truncation is
// handled is the path's follower from then on (rotated.go backHome; a
// file waiting on it, or followed at the path, no longer does: its file
// was renamed over them); not back there (renamed back, copytruncated and
// rotated again unseen), its copy is still looked for beside the path,
// and its new generation is known by the path's name (follower.go
// beside; TestResumedAwayBackThenRotatedAgain). One
// whose rotation was undone unseen, and that was written, copytruncated
// and rotated again while empty before the tailer looked, is empty when
// read again (nothing to look before), and the copy's notice found no
// file followed at the path: as such a rotated file, nothing of it read,
// is finished, or before its first read that takes something while it is
// still away (written after it was back, then renamed away again: the
// copy's notice, taken after a poll saw it away, is refused when a rename
// was noticed before, perhaps the one undone;
// TestHostile75CopyNoticeRefusedThenReadAway), its siblings named before
// its name now are looked at once per generation as copies of it (copy.go
// copiesAway, copiesUnnoted; test/model seed 1230002): born
// since its generation started, not made after the path's next file was
// born (that file's copy), not held by it, nor one of the copies it took
// already, compressed since (a .gz is born at its compression, after the
// last copy taken: one that starts as a copy taken did and holds as many
// bytes, by its gzip trailer, is not taken again;
// TestTakenCopiesCompressedNotCopiesAgain). A copy whose creation notice
// is taken after a poll saw its file renamed away (kubelet's rotation,
// nothing of the file read) is that file's if the notice came before the
// notice of the file's own rename (a directory's notices come in the
// order of its changes; a later file of the path renamed in turn comes
// after), in a directory watched since the file was followed, with no
// notice lost since, and if it was born no later than the file's last
// change (its ctime: the runtime writes to the renamed file until it
// opens the path's next file, which is born after) (copy.go copyOfAway;
// TestCopyNoticeTakenAfterRotation, TestLaterFileNoticeAfterRenameNotice),
// whether the path's next file is followed already or not. A file taken as
// a copy by one file of a path is not taken again by another (the last
// copies taken are kept by identity and birth). Before every read (not only on polls) the tailer checks that
// the file still starts with its fingerprint and that the byte before the end
// of the last complete line read is still a newline (a read within a line,
// whose last read ended inside it, looks at the first bytes again once its
// first chunk is read and before any of it is consumed: a copytruncate and
// new writes between the look and the read put the new generation's bytes
// after the old line's start; TestCopytruncatedBetweenCheckAndRead); a file
// whose size falls
// below the read offset, or that fails this check (truncated and written past
// the old offset between two looks), was truncated: if a copy that starts
// with the same fingerprint sits beside it (copytruncate), the copy is
// finished from the old offset first: the first one made since the file's
// generation started (its birth time, below; by name without birth times:
// when every generation starts with the same first KiB, a banner, an
// older generation or a later copy starts with it too), else the first
// compressed one made since whose decompressed start is the fingerprint
// (the newest by last write without birth times), taken when no plain one
// is there (logrotate's copytruncate with compress gzips the copy at once,
// and a polled directory sees the truncation only at the next read); a
// copy read whole before the file (as a file rotated before it: the file
// was copytruncated between its open and the look at its siblings) is not
// read again, its lines delivered (also one opened while still being
// written, with fewer first bytes than the file: it is known by those it
// has when the truncation is found, copy.go readEarlyCopy;
// TestCopyReadBeforeWhileEmpty); otherwise the bytes never read are
// counted as lost (reason "truncated"). A file nothing of which was read
// yet (offset 0) may show no truncation at all, or have no first bytes to
// find a copy by: the creation of a rotated name beside it (a
// notification) brings a read as soon as it is taken (within
// read_interval), which reads that file whole first when it is a copy made
// since the file's generation started and the file no longer holds it
// (copy.go; lines delivered before a restart whose checkpoint was at
// offset 0 are the copy's, not emitted again).
//
// A generation starts when the file is opened, when a truncation is
// found (before its copies are looked for: a copytruncate made while it is
// handled holds the new generation's lines, and the copies it reads
// before the file are files from before it;
// TestCopytruncateAsTruncationHandled; they are among the copies the file
// took, so that their .gz is not one either:
// TestLaterCopyCompressedNotCopyAgain), or at the birth of the last copy
// taken. Its start is read from
// the file system's clock (CLOCK_REALTIME_COARSE), the clock that stamps
// a file's birth: time.Now runs up to a tick (4 ms at 250 Hz) ahead of it,
// and a copy made within that tick was taken for older and lost uncounted
// (TestCopyWithinATickOfTheOpen, TestCopytruncatesInARow). A file born
// in the start's tick may be from before it, and since Linux 6.13 a file
// can be born with a finer time than the coarse clock (multigrain time
// stamps): so the start lists the rotated siblings born at or after it
// (their births read only when the directory changed since), by inode
// and birth time (a deleted file's inode is soon another's), and a sibling
// born at or after the start that is none of them is a copy (copy.go
// genStart, bornSince). It keeps the names and inodes of the plain
// rotated siblings present too (a stat each; noteCompressed, below). The
// listing costs 34-63 µs in a directory of 5 plain rotated siblings (21-23
// µs without their stats) and 0.25-0.3 ms beside 500 other files
// (`go test -run XXX -bench BenchmarkHostile55GenStart -benchtime=2000x
// -count=3 ./pkg/tail`, load average 2-3), once per file opened, truncation handled, or file queued
// for a descriptor; never per read or poll. The siblings read whole before the file are among
// them. The first read that takes something of the file also lists the
// copies made since its generation started, for a notification still
// waiting in the queue, while its path still names it (renamed before
// that read, by two rotations in a row, the path's later file renamed in
// turn is no copy: it is read after the file); a file that waited for a
// descriptor since the start (the cap reached, or its open refused by the
// kernel) counts as opened when it was queued, so the copies made while it
// waited are read. A truncation starts a new
// generation, read nothing of either: copies made after it are taken the
// same way (a polled directory is watched again at once, for their
// notifications), and the copies named after the one the truncation found
// (copytruncates in a row before the tailer looked) are read after it,
// before the file (discovery.go laterCopies); the file is then known by
// what it holds after the last of them. A copy read whole before the file
// as a rotated file (made as the file was opened, before its siblings were
// looked at) accounts for the file's first truncation wherever it went
// since (renamed, compressed, deleted): not read again, nothing counted
// lost, and the copies made after it are read after it (copy.go
// readBefore). A copy compressed between the truncation's listing and its
// look is looked at as its .gz. A copy the file holds is not read
// apart when the path is first seen or at the start (the file waiting for
// a descriptor then too): copied and not truncated yet, or, nothing of the
// file read yet, no longer than the first bytes taken at its open, or
// made since its generation started, or in the tick of the file system's
// clock it started in (listed by the start as a file from before), and at
// least as long as what was read of it (a copytruncate as the agent
// starts: the truncation reads it from the checkpoint's offset;
// TestCopyMadeAsTheAgentStartsInItsTick; such a copy is no longer a file
// from before for the notice of its creation, which takes it:
// TestStartTickCopyHeldThenTakenByNotice; the plain copies made since after it are left
// to the truncation too, read after it: discovery.go heldLater), or,
// the file read past its start, still empty (created, not written yet,
// whenever it was born: a truncation that finds no copy of what the file
// held reads it, written since, as a later generation's, from its .gz if
// it was compressed since, unless the file's new generation holds it: a
// copy of that one not truncated yet; TestCopyEmptyAtStartLook,
// hostile74_test.go; one written by then that does not start as the file
// does, a file of its own the runtime wrote on, is read by the file's
// next poll if it starts neither as the file does now nor as what was
// read of it (discovery.go heldOwn), else as the file closes or its
// truncation finds its copy, from its .gz if compressed since:
// discovery.go heldWritten, TestHeldEmptyWrittenAsItsOwnFileThenRotated);
// so is
// such a copy compressed at once, which decompresses to the file's first
// bytes and at least what was read, unless its plain name was a file from
// before the file's generation (discovery.go holdsGz;
// TestStartTickCopyCompressedBeforeLook). A file the start resumed that
// waited for a descriptor and was copytruncated meanwhile has its copy,
// found by the checkpoint entry's first bytes, read from the entry's
// offset before it (discovery.go copyOfEntry;
// TestResumedFileCopiedWhileWaiting). Nor,
// when the path is first seen, a
// compressed one whose gzip trailer's size and CRC-32 are those of the
// file's first bytes: the file's read takes its lines. Compressed before
// that read (logrotate's copytruncate with compress and no
// delaycompress), it is taken, read whole, if its creation's notification
// was taken while it was plain (its birth kept then). Taken after the
// compression, the notification still names the copy (a plain rotated
// name created, not renamed there by kubelet's compression): its .gz,
// born since the file's generation started, is taken for it unless its
// plain name was beside the file at that start (a copy of the file
// before at the path, or the truncation's copy compressed after it) and
// the file there then is not known to have started otherwise (a .gz of
// that name then is no sign: logrotate's numbered names move and are made
// again; TestHostile57NumberedCompressedCopy,
// TestHostile57NumberedCopyPlainAtTruncation) or it starts as a file read at the path does
// (a rotated file renamed there and compressed since, whose rename is
// notified as a creation too; among those files is the path's anchor,
// also one an agent before finished: logrotate's numbered names with
// delaycompress rename the last copy, 0.log.1 to 0.log.2, and compress
// it) (copy.go noteCompressed;
// TestCopytruncatedThenRotatedCopyCompressed, TestRenamedCompressedNotACopy,
// TestHostile57DelaycompressRenameAfterRestart).
// Without a notification (a polled directory) its lines are lost
// uncounted (TestCopytruncatesInARow waits for a copy's lines
// before it compresses it; TAIL_COPIES_NOWAIT=1 does not); a stop before it takes the copy into the
// final checkpoint, read by the next agent; one that cannot be opened for
// want of file descriptors keeps the file unread until its next read
// looks again (at a stop, the checkpoint names it all the same if it is
// longer than the file: a stat needs no descriptor; so it does the copies
// of a file parked for a waiting one, or waiting itself, openlimit.go; not
// those of a file waiting whose loaded checkpoint entry says an agent
// before read it: that agent read its older copies, and a copy made since
// is found by the entry's first bytes). logrotate's dateext names
// (0.log-<date>) are rotated names as its numbered ones (0.log.1) and
// kubelet's are. A checkpoint entry of a file empty when it was written
// (no first bytes) is the file at the path if that file was born before
// the checkpoint; its copies made while no agent ran are read from 0. A
// deleted file is still read through
// its descriptor; if it is not read to its end within delete_wait (because
// of backpressure) it is closed and its unread bytes are counted as lost
// (reason "deleted").
//
// A rotation may land between two CRI fragments of a line: the rotated
// file ends with P fragments of a stream and the new file begins with the
// rest (more P, then F) of that stream. When the rotated file (renamed
// away, or a rotated sibling or copytruncate copy read to its end) is
// closed at its end and the next file of its path is open and nothing of
// it was read yet, its pending fragments go on in that file's merge
// (follower.go carryOver): the line is emitted once, under the new file's
// cursor, not flagged, and not counted. A line is carried over as many
// rotations as it spans (P in one file, P in the next, F in the third), as
// long as each file continues it. At least once holds across the two
// files: the rotated file's tracker gets an entry at its end per line
// carried, acknowledged with the merged line (checkpoint.go settle), so
// its committed offset stays where its trailing fragments began and the
// new file's at its start until the merged line is acknowledged; a stop or
// crash in between leaves a checkpoint from which the next agent reads
// the rotated file's fragments again (found among the path's siblings,
// plain or compressed) and merges them again with the new file's start
// (its lines of the other stream acknowledged meanwhile are not emitted
// again: AckedTo). A carried merge is bounded by max_line_bytes like any
// other and is never spilled (held.go): the file its first fragments came
// from is closed. It waits for its end without a timeout, as a merge does
// within one file.
//
// The fragments are still emitted as they are, flagged Truncated and
// counted in ferry_tail_partial_lines_cut_total{reason} where the rest
// cannot be known: "truncated" for a file truncated between fragments;
// "rotated" for a rotated file with no next file followed at its path a
// minute after the rotation (the container exited; until then a rotated
// file ending with fragments is kept open for it, follower.go awaitsNext,
// and a new file at its path that would wait for a descriptor is opened
// beyond max_open_files, openlimit.go admitAwaited), a rotated file
// deleted or compressed before it was closed (read to its end through its
// descriptor or not: a restart might not find its fragments again), a
// parked file that vanished (openlimit.go), a docker json-file log (its
// files are rotated by dockerd, not kubelet; only CRI lines are merged
// across files), and a merge carried into a file that did not continue it
// (the container died between two fragments; the runtime writes the rest
// right after it reopens), which is cut at the end of that file rather
// than carried from file to file. Except in that last case, the first
// line of that stream in the next file, if it is open then (its
// continuation, or not), is flagged Truncated too.
// Across a stop: a file a merge was carried into, or whose first line of
// a stream was flagged for a cut, names those streams in its checkpoint
// entry (cont) until that line is acknowledged (the other stream's lines
// acknowledged before it move the entry's offset, not the mark); the mark
// is written within filesCommitDelay, as a file found is (an agent killed
// in that instant, its rotated file deleted before the next one runs,
// leaves the line's end to be shipped again as a line of its own:
// TestKilledAfterCarryPredecessorDeletedWhileDown, known open). If the
// rotated file is gone at the next start (deleted while no agent ran:
// counted vanished, fragments and all), or the line was cut, the first
// line of those streams from the entry's offset is flagged Truncated
// rather than shipped as a whole line; if the rotated file is still there
// with the fragments unacknowledged, they are read and carried again
// (TestHostile57DockerCutAcrossStop, TestHostile57DockerCutOtherStreamAcked),
// into a copy of the file made while no agent ran if one is read before
// it, which then clears the file's mark (TestHostile57ContCopytruncatedWhileDown).
// A known gap: with the rotated file gone too, such a copy's first line
// of the stream (the line's end) is shipped unflagged, and the file's
// first line there, after its truncation, is flagged.
//
// # Acknowledgement and checkpoints
//
// Every emitted line carries a Cursor (a per-process file identity and the
// end offset of the line). Reading commits nothing. The consumer gives cursors
// back with Ack, in any order; the committed offset of a file is the end of its
// longest fully acknowledged prefix (never inside a partial line still being
// merged on the other stream, nor, in a rotated file whose trailing
// fragments went on in the next file, past them before the merged line is
// acknowledged: see Rotation). Committed offsets are written to
// state_dir/tail.json atomically (temporary file, fsync, rename) in a
// versioned format about every commit_interval and by Close. A state file that
// cannot be read as a whole (not JSON, another version) is set aside as
// tail.json.corrupt with a warning and the tailer starts by its start_at
// policy. Within a readable file each entry stands alone: an invalid one
// (bad offsets, fingerprint or path, unknown fields) is skipped, counted in
// ferry_tail_checkpoint_entries_invalid_total and warned about once; its file
// is read from the start, the other entries are used. Of two entries for the
// same file (device, inode, path and first bytes), the lower offset is used
// and the other is counted the same way. Two entries may share a
// device and inode, and both are used: a file kubelet deleted before all its
// lines were acknowledged, and the file that took its inode number since.
// One file may have two entries at its path, with first bytes of two
// lengths (two followers of it checkpointed at once: a rotation undone
// while the first still waited for acknowledgements): both are taken for
// it, and it resumes from the lower offset (a file still to read before an
// anchor), so what lies between is read again, not lost.
// A state directory that cannot be
// written does not stop reading: it is warned about once per episode and
// retried. Entries of files that no longer exist are pruned. Per path, the
// newest rotated file read to its end and fully acknowledged stays in the
// checkpoint as an anchor (marked done, at its end; one finished empty does
// not replace an anchor, it has no first bytes to be found by once
// compressed, and is kept beside it, found while plain and still empty: a
// file with lines under its inode is one that reused the number): at a start, the files
// older than it are not read again even when kubelet compressed them since
// (a compressed file's time is when it was compressed), and an entry
// written while its file was empty and newer than an anchor (or an empty
// one) still on disk is not counted as vanished (kubelet deletes the oldest first). A done
// file that vanished lost nothing (anchors.go). A done file found grown (a
// rotation undone just before the stop, the file written and rotated
// again while no agent ran), or a copy of it that holds more than it
// (copytruncated then), is read on from its end; found away from its path
// with nothing at the path, it stands for the path's last rotated file,
// so that renamed back it is read on, not read again
// (TestFinishedGrewWhileStopped, TestDoneFileAwayAtStartThenBack).
//
// The checkpoint also keeps the end of the last acknowledged line, so that a
// resume before a partial line still being merged re-reads the other stream's
// lines for merging without emitting them again.
//
// So: after Run returns and every delivered line was acknowledged, Close
// leaves a checkpoint from which a new tailer continues without loss or
// duplicate. After a crash, the new tailer resumes from the last checkpoint
// written: nothing is lost, and what is repeated is what was acknowledged
// after that checkpoint (at most commit_interval of acknowledgements plus
// the unacknowledged window).
//
// Files found at startup resume at their committed offset when their inode and
// fingerprint (length and FNV-1a hash of the first bytes) match; a file on a reused inode with other first bytes is read
// from 0. A fresh agent (no usable state) starts files found at startup at
// start_at; files that appear later are always read from 0. With start_at
// beginning, a fresh agent also reads the rotated files of the paths it
// found that were last written since it started (less 2 s): kubelet may
// rotate a log between the scan's listing and its open by path, which then
// gets the new file. A compressed one's time is when it was compressed, so
// one compressed as the agent started is read too: older lines read once
// more than a fresh agent owes, never a renamed file's lines lost. But not
// the file the scan opened, renamed and compressed since: it starts as
// that follower's descriptor shows and holds the same bytes (by the gzip
// trailer's size and CRC-32), and is read through the descriptor alone
// (followedAsGz). The files rotated after it (renamed or compressed) are
// newer than it: they are read after it, when the path's next file is
// found, not before it at the start.
//
// A file the checkpoint names that is not followed now (excluded by the
// exclude globs or the Excluder since, no longer matched by include, or
// waiting for a descriptor) keeps its entry, as loaded, in every checkpoint
// written while a file with its device and inode is at its path (kept.go;
// not an entry whose file the start found among the path's rotated
// siblings: it is read there, and the file at the path reuses its inode);
// when it is followed again it resumes from it as above, so excluding a
// file and including it again (two config reloads) repeats nothing. Its
// entry is dropped once the file is gone from its path. MoveState carries
// the checkpoint to another state directory.
//
// # Memory
//
// Bytes of emitted but unacknowledged lines are bounded by MaxInflightBytes,
// exceeded by at most one read turn (read_bytes_per_turn, plus lineOverhead
// for each line in it, see below) plus one merged line (max_line_bytes): a
// line is accounted whole when it completes. A line
// is accounted at its real cost: its file bytes (its record's body refers to
// the buffer they were read into), its record and its acknowledgement entry
// (lineOverhead), and a merged line's own body. Validate refuses a
// max_line_bytes above MaxInflightBytes. A batch is closed as soon as it
// holds 1024 lines or 1 MiB of that accounted memory, at every append;
// closed batches are sent in order, and reading stops while one waits for
// the receiver. The unfinished last line of a file is not copied on each
// read: a short one (up to 4 KiB) sits in a small per-file buffer, a long
// one stays in its read buffer, which is extended in place; once past 64
// KiB it moves once into a buffer with room for the longest line there can
// be. Fragments being merged go into one buffer that, once past 64 KiB, is
// given room for max_line_bytes at once; it becomes the record's body
// without a copy. When
// the bound is reached, or the receiver does not take batches, reading
// pauses until there is room again, and the pause is counted in
// ferry_tail_backpressure_seconds_total. Polling and discovery go on while
// reading pauses, so files created and rotated away meanwhile are opened
// and held (a deleted one up to delete_wait, then its unread bytes are
// counted as lost). Per file the tailer keeps a carry of
// at most one incomplete line and merge buffers of at most max_line_bytes.
//
// # Fair reading and rate limits
//
// Files are read in turns (read_bytes_per_turn each), and the in-flight
// budget is shared: while other files have lines waiting (bytes known
// unread), a file holding at least the budget divided by the number of
// waiting files is passed over; while none waits, one file may hold the
// budget but its last eighth (all of it when it is the only open file).
// So a quiet file's new line is read at once however fast another file
// grows, and what an acknowledgement frees goes to the files that wait.
// A file's holding is counted from the end of its acknowledged prefix to
// its last emitted line (plus lineOverhead per unacknowledged line); the
// largest is ferry_tail_file_inflight_max_bytes. The code is in fair.go.
//
// Each container (the directory of a kubelet log path; any other file is
// its own container) may have a rate limit (RateLimit: lines and bytes per
// second, with bursts; token buckets in limits.go): its pod's
// ferry.dev/rate-limit annotation (through Options.Limits, re-read every
// rescan_interval; a changed limit keeps what is left of the budget), else the first selector matching its pod's labels
// (also through Options.Limits), else its namespace's entry, else the
// default. The aggregates per_pod and per_namespace add buckets shared by
// a pod's (a namespace's) containers, on top of each container's own. A
// container's limiter outlives its files until its own buckets are full
// again, an aggregate its containers' limiters until its buckets are (so
// neither a rotation nor a restart renews a budget, and the state of
// containers gone is forgotten however busy their neighbours); a
// read under policy defer takes at most its container's part of an
// aggregate's tokens (the tokens divided by the containers sharing it
// that have a file open),
// so the first container read after a refill does not take them all. Lines
// are newline-terminated lines of the file. Under policy defer the file
// is not read while its budget is spent, and a read stops at the line or
// byte its budget allows: the file is the buffer, reads happen once per
// read_interval's worth of budget, and the lines read late are counted in
// ferry_tail_lines_deferred_total. A rotated file of such a container
// removed before it was read is closed after delete_wait, and its unread
// bytes are counted in ferry_tail_lost_bytes_total{reason="rotated_unread"}
// rather than "deleted". Under policy drop the file is read at full speed
// and the lines over the limit are not emitted (a line longer than the
// bytes burst passes when the bucket is full, which then owes the excess):
// counted in
// ferry_tail_lines_dropped_total{reason="rate_limit"}, and every
// summary_interval one record (stderr; the container's path) says how
// many lines and bytes were dropped between which times (a rotation does
// not bring it forward; a container with no file open any more gets its
// last one when its limiter is forgotten, its buckets full again). Dropped lines are
// committed with the next emitted line of their file, or, when the last
// line read was dropped, with the summary (it then carries that line's
// cursor). A warning names each container when it starts being limited (its
// reading deferred, or a line dropped) and when it stops (its backlog
// read, in every file of it: a rotated file read to its end while the
// new one is behind ends nothing; or no drop for summary_interval);
// ferry_tail_rate_limited_containers counts those limited now. The code is
// in limiter.go.
//
// # Lifecycle
//
// New checks the configuration and starts nothing. Run does all reading on one
// goroutine (plus fsnotify's reader and a waiter that takes one event when asked), sends batches on out, and on cancellation stops
// reading, closes out, and returns nil; a blocked send gives up when the
// context ends. Before it returns it takes the queued notifications, polls
// (a rotation whose notification is not in yet) and rescans once, unread, so that the final checkpoint names every file on
// disk at the stop, one waiting for a descriptor included, at offset 0
// (one kubelet created a moment before a rolling update's
// SIGTERM, then deleted while no agent ran, is counted lost by the next
// agent, not lost without a trace). Ack may be called from any goroutine at any time. Close,
// called once Run returned and the sink acknowledged what it delivered,
// writes the final checkpoint; it is idempotent. A file that was deleted
// (or compressed away) after it was read to its end, which the tailer had
// not looked at again before the stop, is in that checkpoint as its path's
// anchor, not as a file to go on with: the next agent could not find it
// and would count a loss that did not happen, or would read its .gz again
// (tailer.go deletedAndRead). So is a file kubelet renamed that was read to
// its end once the new file at its path was found, though read_interval
// had not passed since (rotatedFinal): kubelet may compress and delete it
// before the next agent's first scan (tailer.go rotatedAndRead). The stop
// first waits out that read_interval (once for all files, at most a second:
// landedAtStop; a file whose read_interval ends later is neither waited for
// nor finished), so that a write in progress on the old descriptor lands; a
// file that grew is checkpointed as being read. One that grows
// later still is read on from where it was finished, as any finished file
// found longer; not one cut inside a line longer than max_line_bytes, nor
// one nothing of which was read. The tailer is Linux-only
// (device and inode numbers come from syscall.Stat_t).
//
// # Where things are
//
//   - tailer.go: the Tailer, its Run loop, read turns and batches.
//   - identity.go: how a file is known (device, inode, fingerprint).
//   - discovery.go: globs, exclusion, opening new files, files rotated before
//     they were opened, the copy of a copytruncate; copy.go: the copy of a
//     file nothing of which was read.
//   - followerstate.go: a follower's states (following, rotated, draining,
//     deleted, closed) and transition, the one function that holds every
//     edge between them.
//   - openlimit.go: the descriptor cap, the queue of waiting files, EMFILE.
//   - health.go: the loop's heartbeat (LastLoop).
//   - follower.go: one open file: reading, and what observes the events of
//     those transitions (rotation, an undone rotation, deletion), truncation
//     (a new generation, not a state), closing, a partial line carried
//     over a rotation into the next file.
//   - rotated.go: rotated and compressed siblings across a restart.
//   - checkpoint.go: acknowledgements, committed offsets, writing the
//     checkpoint; state.go: the state file's format.
//   - decode.go: CRI and docker json-file lines, partial merging.
//   - fair.go: the share of the in-flight budget each file may hold.
//   - limits.go: rate-limit configuration, the annotation's format, token
//     buckets; limiter.go: a container's limit applied (defer, drop,
//     summaries, warnings).
//
// Like every package under pkg/, tail carries no API stability promise before
// v1.
package tail
