package kernel

import (
	"net/http"
	"syscall"
	"testing"
)

// Every kind has a message, a stable name that comes back as the same
// kind (remote clients rebuild errors from it), an errno and an HTTP
// status; only Internal is EIO and 500.
func TestEveryKindIsMapped(t *testing.T) {
	for k := Kind(0); int(k) < len(kindNames); k++ {
		if kindNames[k] == "" {
			t.Errorf("kind %d has no message", k)
		}
		if int(k) >= len(kindIDs) || kindIDs[k] == "" || KindFromID(k.ID()) != k {
			t.Errorf("kind %d (%s) has no stable name of its own: %q", k, kindNames[k], k.ID())
		}
		if k != Internal && (k.Errno() == syscall.EIO || k.HTTPStatus() == http.StatusInternalServerError) {
			t.Errorf("kind %d (%s) maps to errno %v, status %d", k, kindNames[k], k.Errno(), k.HTTPStatus())
		}
	}
	if len(kindIDs) != len(kindNames) || len(errnos) != len(kindNames) || len(httpStatuses) != len(kindNames) {
		t.Errorf("tables of %d names, %d ids, %d errnos, %d statuses", len(kindNames), len(kindIDs), len(errnos), len(httpStatuses))
	}
	if NotPrimary.Errno() != syscall.EROFS || NotPrimary.HTTPStatus() != http.StatusConflict {
		t.Errorf("NotPrimary: %v %d", NotPrimary.Errno(), NotPrimary.HTTPStatus())
	}
}
