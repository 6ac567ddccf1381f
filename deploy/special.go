package deploy

import "io/fs"

// Special files (FIFOs, sockets, devices) in a source are not sent: a site
// serves files, and a web server answers 404 for such a node anyway. The
// deploy names them, as it names links that leave the site.

// specials takes the special files out of files and returns them as
// "REL (KIND)".
func specials(files []local) ([]local, []string) {
	var skipped []string
	kept := files[:0]
	for _, f := range files {
		if kind := specialKind(f.mode); kind != "" {
			skipped = append(skipped, f.rel+" ("+kind+")")
			continue
		}
		kept = append(kept, f)
	}
	return kept, skipped
}

func specialKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return ""
}
