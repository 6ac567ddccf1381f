package kernel

// ChangeOp says what a Change did.
type ChangeOp uint8

// The kinds of change.
const (
	EntryAdded     ChangeOp = iota + 1 // Dir gained Name (pointing to Ino)
	EntryRemoved                       // Dir lost Name (which pointed to Ino)
	ContentChanged                     // the data of Ino changed
	AttrChanged                        // the attributes of Ino changed
	// Reloaded: anything in the file system whose root is Ino may have
	// changed (a follower applied the primary's transactions to the
	// database under it); whatever was read of it is stale.
	Reloaded
)

func (op ChangeOp) String() string {
	switch op {
	case EntryAdded:
		return "add"
	case EntryRemoved:
		return "remove"
	case ContentChanged:
		return "write"
	case AttrChanged:
		return "attr"
	case Reloaded:
		return "reload"
	}
	return "unknown"
}

// Change is one committed change to a tree.
type Change struct {
	Op     ChangeOp
	Ino    uint64
	Dir    uint64 // for EntryAdded and EntryRemoved
	Name   string // for EntryAdded and EntryRemoved
	Origin Origin // from the context of the call that made it
}

// Notifier is implemented by file systems that report their changes. The
// namespace calls SetNotify once, when it binds the file system; notify must
// be called after the change is committed, never with a lock held that a
// subscriber could need, and must not block.
type Notifier interface {
	SetNotify(notify func(Change))
}

// Announcer is implemented by file systems that announce every change they
// commit, whoever made it and however (the mount's own changes included,
// with the mount as Origin), so a front end may keep what it read of them
// until a change says otherwise: the mount lets the host kernel cache
// their entries, attributes and directory listings for long. A file system
// whose content also changes unannounced (generated files, clocks) must
// not implement it.
type Announcer interface {
	Notifier
	AnnouncesEveryChange()
}
