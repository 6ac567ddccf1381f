// Package deploy syncs a local directory into a site's tree, atomically,
// and keeps the site's past deploys for rollback. It is a client of the
// tree: every step is a tree operation (clone, write, remove, exchange,
// rename), so it works the same in-process, through the local socket and
// through the remote API with a token scoped to the site.
//
// A sync prepares the new tree at /fs/.staging/SITE: a clone of the live
// tree (metadata only: clones share content), or the copy an interrupted
// sync left, which is resumed. It asks the tree for a manifest of that copy
// (each file's digest, computed from the stored chunks' hashes without
// reading content), compares it with the source (the same digest over
// local blocks), and sends only the files that differ. Then one
// RENAME_EXCHANGE swaps the copy with /fs/SITE: a visitor sees the old
// site or the new one, never a mix. The replaced tree becomes a past
// deploy, /fs/.deploys/SITE/ID, kept for rollback (the newest 10 by
// default); rolling back is the same exchange the other way.
//
// Names that start with a dot are not site names, so nothing routes to
// the staging and history trees. A token scoped to /fs/SITE may write
// them too (security), so what a deploy reads back from them is data: ids
// are taken only in their grammar (validID), and a deploy run in this
// process is confined to the site's trees (confined) whatever they say.
//
// # In the tree
//
// Files is /deploys: the history (/fs/.deploys) read-only, with a ctl file
// (rollback, keep) and err at its root, the union of the two.
package deploy
