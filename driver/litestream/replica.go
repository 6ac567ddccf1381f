package litestream

import (
	"fmt"
	"os"
	"strings"
	"sync"

	upstream "github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/s3"

	"github.com/fazt-sh/fazt/kernel"
)

var dropCABundle sync.Once

// replicaClient is a client of the replica at url for this process (a
// follower, a restore to follow): with the credentials saved in dataDir
// unless the environment has its own, as a restore. AWS_CA_BUNDLE leaves
// this process's environment, as it leaves the child's (ChildEnv): the
// AWS SDK fails at start when it is set with Litestream's HTTP client.
func replicaClient(url, dataDir string) (upstream.ReplicaClient, error) {
	dropCABundle.Do(func() { os.Unsetenv("AWS_CA_BUNDLE") })
	client, err := upstream.NewReplicaClientFromURL(url)
	if err != nil {
		return nil, kernel.E(kernel.Invalid, fmt.Sprintf("replica %s: %v", redact(url), err))
	}
	if c, ok := client.(*s3.ReplicaClient); ok && dataDir != "" && c.AccessKeyID == "" {
		for _, kv := range RestoreEnv(dataDir) {
			switch k, v, _ := strings.Cut(kv, "="); k {
			case "AWS_ACCESS_KEY_ID":
				c.AccessKeyID = v
			case "AWS_SECRET_ACCESS_KEY":
				c.SecretAccessKey = v
			}
		}
	}
	return client, nil
}
