// Package s3store is the service's access to S3: it uploads import files and
// reports, reads byte ranges of import files for the workers, lists, presigns
// download links and checks that the bucket answers.
//
// A Store works with one bucket, on AWS or on an S3-compatible server such as
// versitygw (Config.Endpoint, Config.ForcePathStyle). Credentials always come
// from the AWS SDK's default chain: environment, shared profiles, IAM roles.
// Errors name the object as "s3://bucket/key" and never carry credentials; a
// missing object is reported as ErrNotFound (test it with errors.Is).
//
// The package is named s3store so that it does not clash with the SDK's s3.
package s3store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrNotFound is returned (wrapped) when the object does not exist.
var ErrNotFound = errors.New("object not found")

const (
	defaultRegion = "us-east-1"

	// Upload streams in parts of partSize, partConcurrency at a time: memory per
	// upload stays around (partConcurrency+1) × partSize, whatever the file size.
	partSize        = 8 << 20
	partConcurrency = 2
	// UploadLean's parts: S3's smallest, one at a time.
	leanPartSize = 5 << 20

	// maxAttempts per request, with the SDK's standard retryer (exponential
	// back-off with jitter, retry quota) for throttling, 5xx and network errors.
	maxAttempts = 4
	// dialTimeout bounds connecting to the endpoint.
	dialTimeout = 10 * time.Second
	// DefaultReadTimeout fails a connection that sends nothing for this long
	// (waiting for response headers, or mid-body). It is not a deadline on the
	// whole request: large uploads and slowly consumed downloads are fine.
	DefaultReadTimeout = time.Minute

	// maxPresignTTL is SigV4's limit for presigned URLs.
	maxPresignTTL = 7 * 24 * time.Hour
)

// listPageSize is the MaxKeys of each ListObjectsV2 request made by List.
const listPageSize = 1000

// Object describes a stored object.
type Object struct {
	Key          string
	Size         int64
	ETag         string // without the quotes S3 puts around it; "<hex>-<parts>" for multipart uploads
	LastModified time.Time
}

// Store reads and writes the objects of one bucket. It is safe for concurrent use.
type Store struct {
	bucket  string
	client  *s3.Client
	presign *s3.PresignClient
	upload  func(ctx context.Context, in *s3.PutObjectInput) (*manager.UploadOutput, error)
	lean    func(ctx context.Context, in *s3.PutObjectInput) (*manager.UploadOutput, error)
}

// New makes a Store for c. It loads the SDK's default configuration
// (credentials, and the region unless c.Region is set; us-east-1 when none is
// found) but makes no network call: use Ping to check that the bucket answers.
func New(ctx context.Context, c Config, with ...Option) (*Store, error) {
	var set options
	for _, opt := range with {
		opt(&set)
	}
	if c.Bucket == "" {
		return nil, errors.New("s3store: no bucket configured")
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3store: endpoint %q is not an http(s)://host[:port] URL", c.Endpoint)
		}
	}

	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithReadTimeout(cmp.Or(c.ReadTimeout, DefaultReadTimeout))
	opts := []func(*config.LoadOptions) error{
		config.WithDefaultRegion(defaultRegion),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = maxAttempts })
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3store: load AWS configuration: %w", err)
	}

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.ForcePathStyle
		// The SDK validates response checksums when the server sends one; ranged
		// GETs and multipart objects have none to check. Without this it says so
		// on stderr for each such GET, past the service's logger.
		o.DisableLogOutputChecksumValidationSkipped = true
	}, func(so *s3.Options) {
		if set.tp != nil {
			so.APIOptions = append(so.APIOptions, traceMiddleware(set.tp, c.Bucket))
		}
	})
	return &Store{
		bucket:  c.Bucket,
		client:  client,
		presign: s3.NewPresignClient(client),
		upload:  newUploader(client, partSize, partConcurrency),
		lean:    newUploader(client, leanPartSize, 1),
	}, nil
}

// newUploader returns the multipart upload of feature/s3/manager, which
// streams the input in parts. The SDK marks that package deprecated in favour
// of feature/s3/transfermanager, which is still v0 and not in go.mod.
func newUploader(client *s3.Client, size int64, concurrency int) func(context.Context, *s3.PutObjectInput) (*manager.UploadOutput, error) {
	//nolint:staticcheck // SA1019: manager.Uploader is deprecated but stable; transfermanager is still v0 (see the comment above).
	u := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = size
		u.Concurrency = concurrency
	})
	return func(ctx context.Context, in *s3.PutObjectInput) (*manager.UploadOutput, error) {
		return u.Upload(ctx, in) //nolint:staticcheck // SA1019: see newUploader's comment.
	}
}

// Bucket returns the name of the Store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Upload stores r's content under key. It streams r in 8 MiB parts (a
// multipart upload when r holds more than one part), never holding the whole
// input in memory, and aborts the upload if r or a request fails. contentType
// may be empty. The returned Object is as Head reports it after the upload.
func (s *Store) Upload(ctx context.Context, key string, r io.Reader, contentType string) (Object, error) {
	return s.uploadWith(ctx, s.upload, key, r, contentType)
}

// UploadLean is Upload in 5 MiB parts, one at a time: for an object its
// writer makes as it goes (an error report streamed from PostgreSQL), whose
// pace the writer sets, not the network. It holds about 10 MiB instead of
// Upload's 24: a finalize streams two reports at once.
func (s *Store) UploadLean(ctx context.Context, key string, r io.Reader, contentType string) (Object, error) {
	return s.uploadWith(ctx, s.lean, key, r, contentType)
}

func (s *Store) uploadWith(ctx context.Context, upload func(context.Context, *s3.PutObjectInput) (*manager.UploadOutput, error),
	key string, r io.Reader, contentType string) (Object, error) {
	if key == "" {
		return Object{}, s.errorf("upload", key, errEmptyKey)
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: r}
	if contentType != "" {
		in.ContentType = &contentType
	}
	if _, err := upload(ctx, in); err != nil {
		return Object{}, s.errorf("upload", key, err)
	}
	o, err := s.head(ctx, key)
	if err != nil {
		return Object{}, s.errorf("upload", key, err)
	}
	return o, nil
}

// Put stores body under key with a single PutObject: for small objects such
// as reports. contentType may be empty. The returned Object is as Head
// reports it after the write.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) (Object, error) {
	if key == "" {
		return Object{}, s.errorf("put", key, errEmptyKey)
	}
	in := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	}
	if contentType != "" {
		in.ContentType = &contentType
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return Object{}, s.errorf("put", key, err)
	}
	o, err := s.head(ctx, key)
	if err != nil {
		return Object{}, s.errorf("put", key, err)
	}
	return o, nil
}

// Head returns the object's metadata, or ErrNotFound.
func (s *Store) Head(ctx context.Context, key string) (Object, error) {
	o, err := s.head(ctx, key)
	if err != nil {
		return Object{}, s.errorf("head", key, err)
	}
	return o, nil
}

func (s *Store) head(ctx context.Context, key string) (Object, error) {
	if key == "" {
		return Object{}, errEmptyKey
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Object{}, err
	}
	return Object{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         unquote(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

// OpenRange opens length bytes of the object starting at offset (a ranged GET
// "bytes=offset-(offset+length-1)"); length -1 reads to the end of the object.
// The range is cut short at the end of the object; an offset at or past the end
// is an error. The caller reads the body and closes it. A missing object is
// ErrNotFound.
func (s *Store) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if key == "" {
		return nil, s.errorf("get", key, errEmptyKey)
	}
	if offset < 0 || length == 0 || length < -1 {
		return nil, s.errorf("get", key, fmt.Errorf("invalid range: offset %d, length %d", offset, length))
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	// The whole object needs no Range, which also makes it work for empty objects
	// (S3 answers "bytes=0-" on an empty object with 416).
	if offset > 0 || length != -1 {
		r := fmt.Sprintf("bytes=%d-", offset)
		if length != -1 {
			r += fmt.Sprint(offset + length - 1)
		}
		in.Range = &r
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, s.errorf("get", key, err)
	}
	if in.Range != nil && out.ContentRange == nil {
		// The server sent the whole object: reading it as the range would be wrong.
		_ = out.Body.Close()
		return nil, s.errorf("get", key, fmt.Errorf("the server ignored the Range header %q", *in.Range))
	}
	return out.Body, nil
}

// List calls fn for each object whose key starts with prefix, in key order
// (S3 lists keys in ascending UTF-8 byte order), fetching the listing a page at
// a time. It stops at fn's first error and returns that error unchanged.
func (s *Store) List(ctx context.Context, prefix string, fn func(Object) error) error {
	_, err := s.list(ctx, prefix, listPageSize, fn)
	return err
}

// list is List with a page size; it also returns the number of pages fetched.
func (s *Store) list(ctx context.Context, prefix string, pageSize int32, fn func(Object) error) (pages int, err error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, MaxKeys: aws.Int32(pageSize)}
	if prefix != "" {
		in.Prefix = &prefix
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return pages, fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		pages++
		for _, o := range page.Contents {
			err := fn(Object{
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				ETag:         unquote(aws.ToString(o.ETag)),
				LastModified: aws.ToTime(o.LastModified),
			})
			if err != nil {
				return pages, err
			}
		}
	}
	return pages, nil
}

// PresignGet returns a URL that lets anyone holding it GET the object for ttl
// (at most 7 days), without credentials. It makes no network call and does not
// check that the object exists.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if key == "" {
		return "", s.errorf("presign get", key, errEmptyKey)
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", s.errorf("presign get", key, fmt.Errorf("ttl %v out of range (0, %v]", ttl, maxPresignTTL))
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", s.errorf("presign get", key, err)
	}
	return req.URL, nil
}

// Ping checks that the bucket exists and the credentials may use it (HeadBucket):
// for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("ping s3://%s: %w", s.bucket, err)
	}
	return nil
}

var errEmptyKey = errors.New("empty key")

// errorf wraps err with the operation and the object's URL, translating the
// SDK's "no such key" errors into ErrNotFound.
func (s *Store) errorf(op, key string, err error) error {
	if isNotFound(err) {
		err = ErrNotFound
	}
	return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, err)
}

// isNotFound says whether err is S3's answer for a missing object: NoSuchKey
// (GET), NotFound (HEAD, which has no body to say more) or another 404. A
// missing bucket is not a missing object, when the server says so.
func isNotFound(err error) bool {
	var (
		noSuchKey *types.NoSuchKey
		notFound  *types.NotFound
	)
	if errors.As(err, &noSuchKey) || errors.As(err, &notFound) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var respErr *smithyhttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound
}

func unquote(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`)
}

// Delete removes an object; a missing one is not an error (S3 answers alike).
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("delete: empty key")
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}
