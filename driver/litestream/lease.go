package litestream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	upstream "github.com/benbjohnson/litestream"
	lss3 "github.com/benbjohnson/litestream/s3"

	"github.com/fazt-sh/fazt/kernel"
)

// Lease is the one-writer lease of an S3 replica: Litestream's s3.Leaser
// (lock.json beside the replica's files, written with conditional
// requests, so two machines cannot both take it). Its owner is a stable
// name of the machine, not a process: a primary restarted within its
// lease takes it back instead of waiting it out. Expiry is judged by each
// machine's clock, so whoever waits for an expiry adds a margin for skew.
//
// A primary replicates under it (term.go); a standby takes it when the
// primary's expires (standby.go).
type Lease struct {
	leaser *lss3.Leaser
	s3     *s3.Client
	bucket string
	key    string
}

// DefaultLeaseTTL is how long a lease lasts unless renewed.
const DefaultLeaseTTL = lss3.DefaultLeaseTTL

// MinLeaseTTL is the shortest lease a primary takes: its margins (a sixth
// each side) must still cover a renewal's round trip.
const MinLeaseTTL = 3 * time.Second

// OpenLease returns the lease of the replica at url, taken as owner;
// NotSupported for replicas other than S3 (a directory has no conditional
// writes to elect with).
func OpenLease(url, dataDir, owner string, ttl time.Duration) (*Lease, error) {
	client, err := replicaClient(url, dataDir)
	if err != nil {
		return nil, err
	}
	c, ok := client.(*lss3.ReplicaClient)
	if !ok {
		return nil, kernel.E(kernel.NotSupported, "a lease needs an S3 replica, not "+redact(url))
	}
	id, secret := c.AccessKeyID, c.SecretAccessKey
	if id == "" {
		id, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	region := c.Region
	if region == "" {
		region = lss3.DefaultRegion
	}
	opt := s3.Options{Region: region, Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")}
	if c.Endpoint != "" {
		ep := c.Endpoint
		if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
			ep = "https://" + ep
		}
		opt.BaseEndpoint, opt.UsePathStyle = aws.String(ep), c.ForcePathStyle
		opt.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		opt.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	l := &Lease{leaser: lss3.NewLeaser(), s3: s3.New(opt), bucket: c.Bucket}
	l.leaser.SetClient(l.s3)
	l.leaser.Bucket, l.leaser.Path, l.leaser.Owner = c.Bucket, strings.Trim(c.Path, "/"), owner
	if ttl > 0 {
		l.leaser.TTL = ttl
	}
	l.key = lss3.DefaultLeasePath
	if l.leaser.Path != "" {
		l.key = l.leaser.Path + "/" + lss3.DefaultLeasePath
	}
	return l, nil
}

// ErrLeaseHeld says another owner holds the lease; Holder says who, until
// when.
type ErrLeaseHeld struct {
	Owner     string
	ExpiresAt time.Time
}

func (e *ErrLeaseHeld) Error() string {
	return fmt.Sprintf("the replica's lease is held by %s until %s", e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// ErrLeaseLost says a lease this owner held was taken by another.
var ErrLeaseLost = errors.New("the replica's lease was taken by another owner")

// Acquire takes the lease: a new generation when it is free or expired,
// the same one renewed when this owner holds it already (a restart);
// ErrLeaseHeld when another owner does.
func (l *Lease) Acquire(ctx context.Context) (*upstream.Lease, error) {
	cur, err := l.Read(ctx)
	if err != nil {
		return nil, err
	}
	if cur != nil && !cur.IsExpired() && cur.Owner == l.leaser.Owner {
		return l.Renew(ctx, cur)
	}
	got, err := l.leaser.AcquireLease(ctx)
	var held *upstream.LeaseExistsError
	if errors.As(err, &held) {
		return nil, &ErrLeaseHeld{Owner: held.Owner, ExpiresAt: held.ExpiresAt}
	}
	return got, err
}

// Renew extends a lease this owner holds; ErrLeaseLost if another took it.
func (l *Lease) Renew(ctx context.Context, cur *upstream.Lease) (*upstream.Lease, error) {
	got, err := l.leaser.RenewLease(ctx, cur)
	if errors.Is(err, upstream.ErrLeaseNotHeld) {
		return nil, ErrLeaseLost
	}
	return got, err
}

// Release gives a held lease up, for another to take at once.
func (l *Lease) Release(ctx context.Context, cur *upstream.Lease) error {
	err := l.leaser.ReleaseLease(ctx, cur)
	if errors.Is(err, upstream.ErrLeaseNotHeld) {
		return ErrLeaseLost
	}
	if errors.Is(err, lss3.ErrLeaseAlreadyReleased) {
		return nil
	}
	return err
}

// Read returns the lease as stored (with its ETag), nil when there is none.
func (l *Lease) Read(ctx context.Context) (*upstream.Lease, error) {
	out, err := l.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key)})
	if err != nil {
		var nf interface{ ErrorCode() string }
		if errors.As(err, &nf) && (nf.ErrorCode() == "NoSuchKey" || nf.ErrorCode() == "NotFound") {
			return nil, nil
		}
		return nil, fmt.Errorf("read the lease: %w", err)
	}
	defer out.Body.Close()
	var cur upstream.Lease
	if err := json.NewDecoder(out.Body).Decode(&cur); err != nil {
		return nil, fmt.Errorf("read the lease: %w", err)
	}
	if out.ETag != nil {
		cur.ETag = *out.ETag
	}
	return &cur, nil
}
