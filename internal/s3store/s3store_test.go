package s3store_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sync/errgroup"

	"github.com/userimport/userimport/internal/s3store"
)

// The local stack's S3 settings (deploy/local/stack.sh env), used when the
// environment names no S3 endpoint. make test exports them itself.
var localStack = map[string]string{
	"S3_ENDPOINT":           "http://127.0.0.1:9002",
	"S3_BUCKET":             "userimport",
	"S3_FORCE_PATH_STYLE":   "true",
	"AWS_ACCESS_KEY_ID":     "userimport",
	"AWS_SECRET_ACCESS_KEY": "userimport-secret",
	"AWS_REGION":            "us-east-1",
}

func TestMain(m *testing.M) {
	// Set here, before any test runs, because t.Setenv rules out t.Parallel.
	// Without S3_ENDPOINT all of the local stack's values are used, credentials
	// included, so that no other credentials are ever sent to the local server.
	if os.Getenv("S3_ENDPOINT") == "" {
		for k, v := range localStack {
			if err := os.Setenv(k, v); err != nil {
				fmt.Fprintln(os.Stderr, "setenv:", err)
				os.Exit(1)
			}
		}
	}
	os.Exit(m.Run())
}

// newStore returns a Store on the test bucket and a key prefix no other test
// uses; every object under the prefix is deleted when the test ends.
func newStore(t *testing.T) (st *s3store.Store, prefix string) {
	t.Helper()
	c, err := s3store.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err = s3store.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	prefix = "test/" + rand.Text() + "/"
	t.Cleanup(func() {
		// t.Context() is already canceled when clean-ups run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		var keys []string
		err := st.List(ctx, prefix, func(o s3store.Object) error {
			keys = append(keys, o.Key)
			return nil
		})
		if err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
			return
		}
		for _, k := range keys {
			if err := st.Delete(ctx, k); err != nil {
				t.Errorf("clean up: delete %s: %v", k, err)
			}
		}
	})
	return st, prefix
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func put(t *testing.T, st *s3store.Store, key string, body []byte) s3store.Object {
	t.Helper()
	o, err := st.Put(t.Context(), key, body, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func readRange(t *testing.T, st *s3store.Store, key string, offset, length int64) ([]byte, error) {
	t.Helper()
	rc, err := st.OpenRange(t.Context(), key, offset, length)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return io.ReadAll(rc)
}

// onlyReader hides every method but Read, so that Upload cannot seek or
// learn the size in advance: it must stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestUploadMultipart(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	const size = 20 << 20 // three 8 MiB parts: 8 + 8 + 4
	data := randomBytes(size)
	key := prefix + "big.csv"

	before := time.Now().Add(-time.Minute)
	got, err := st.Upload(t.Context(), key, onlyReader{bytes.NewReader(data)}, "text/csv")
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != key || got.Size != size {
		t.Errorf("Upload = %+v, want key %s, size %d", got, key, size)
	}
	if !strings.HasSuffix(got.ETag, "-3") {
		t.Errorf("ETag %q: want a multipart ETag of 3 parts (\"…-3\")", got.ETag)
	}
	if got.LastModified.Before(before) {
		t.Errorf("LastModified %v: want about now", got.LastModified)
	}

	head, err := st.Head(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, head); diff != "" {
		t.Errorf("Head differs from Upload's result (-upload +head):\n%s", diff)
	}

	all, err := readRange(t, st, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, data) {
		t.Errorf("GET returned %d bytes that differ from the %d uploaded", len(all), len(data))
	}

	// A range across the boundary of parts 1 and 2.
	const off, n = 8<<20 - 100, 200
	part, err := readRange(t, st, key, off, n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(part, data[off:off+n]) {
		t.Errorf("range [%d, %d) differs from the uploaded bytes", off, off+n)
	}
}

func TestUploadSmall(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	for _, size := range []int{0, 1, 5 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			data := randomBytes(size)
			key := fmt.Sprintf("%ssmall-%d.csv", prefix, size)
			got, err := st.Upload(t.Context(), key, onlyReader{bytes.NewReader(data)}, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != int64(size) || strings.Contains(got.ETag, "-") {
				t.Errorf("Upload = %+v, want size %d and a single-part ETag", got, size)
			}
			back, err := readRange(t, st, key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, data) {
				t.Errorf("GET returned %d bytes that differ from the %d uploaded", len(back), size)
			}
		})
	}
}

func TestUploadReadError(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	errBroken := errors.New("broken reader")
	r := io.MultiReader(bytes.NewReader(randomBytes(9<<20)), iotestErrReader{errBroken})
	key := prefix + "broken.csv"
	if _, err := st.Upload(t.Context(), key, r, ""); !errors.Is(err, errBroken) {
		t.Errorf("Upload with a failing reader: err = %v, want %v", err, errBroken)
	}
	if _, err := st.Head(t.Context(), key); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Head after a failed upload: err = %v, want ErrNotFound", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestHeadNotFound(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	key := prefix + "missing.csv"
	_, err := st.Head(t.Context(), key)
	if !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head(missing) err = %v, want ErrNotFound", err)
	}
	if want := "head s3://" + st.Bucket() + "/" + key; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

func TestPutHead(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	body := []byte(`{"created":3,"rejected":1}` + "\n")
	key := prefix + "reports/1.json"

	got, err := st.Put(t.Context(), key, body, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	want := s3store.Object{Key: key, Size: int64(len(body)), ETag: hex.EncodeToString(sum[:])}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(s3store.Object{}, "LastModified")); diff != "" {
		t.Errorf("Put (-want +got):\n%s", diff)
	}
	head, err := st.Head(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, head); diff != "" {
		t.Errorf("Head differs from Put's result (-put +head):\n%s", diff)
	}

	// Put replaces.
	got2 := put(t, st, key, []byte("{}"))
	if got2.Size != 2 {
		t.Errorf("second Put: size %d, want 2", got2.Size)
	}
}

func TestOpenRange(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	data := randomBytes(1000)
	key := prefix + "range.csv"
	put(t, st, key, data)

	tests := []struct {
		name           string
		key            string
		offset, length int64
		want           []byte
		wantErr        error // nil: any error when wantAnyErr
		wantAnyErr     bool
	}{
		{name: "middle", key: key, offset: 100, length: 50, want: data[100:150]},
		{name: "first byte", key: key, offset: 0, length: 1, want: data[:1]},
		{name: "last byte", key: key, offset: 999, length: 1, want: data[999:]},
		{name: "to the end", key: key, offset: 900, length: -1, want: data[900:]},
		{name: "whole", key: key, offset: 0, length: -1, want: data},
		{name: "past the end is cut", key: key, offset: 990, length: 100, want: data[990:]},
		{name: "missing key", key: prefix + "missing.csv", offset: 0, length: 10, wantErr: s3store.ErrNotFound},
		{name: "missing key to the end", key: prefix + "missing.csv", offset: 0, length: -1, wantErr: s3store.ErrNotFound},
		{name: "offset at the end", key: key, offset: 1000, length: 10, wantAnyErr: true},
		{name: "zero length", key: key, offset: 0, length: 0, wantAnyErr: true},
		{name: "negative offset", key: key, offset: -1, length: 10, wantAnyErr: true},
		{name: "negative length", key: key, offset: 0, length: -2, wantAnyErr: true},
		{name: "empty key", key: "", offset: 0, length: -1, wantAnyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readRange(t, st, tt.key, tt.offset, tt.length)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if want := "get s3://" + st.Bucket() + "/" + tt.key; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			case tt.wantAnyErr:
				if err == nil || errors.Is(err, s3store.ErrNotFound) {
					t.Fatalf("err = %v, want an error other than ErrNotFound", err)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(got, tt.want):
				t.Errorf("got %d bytes, want %d: contents differ", len(got), len(tt.want))
			}
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	dir := prefix + "list/"
	var want []s3store.Object
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(8)
	for i := range 30 {
		key := fmt.Sprintf("%sobj-%02d.csv", dir, i)
		body := bytes.Repeat([]byte{'x'}, i)
		sum := md5.Sum(body)
		want = append(want, s3store.Object{Key: key, Size: int64(i), ETag: hex.EncodeToString(sum[:])})
		g.Go(func() error {
			_, err := st.Put(ctx, key, body, "text/csv")
			return err
		})
	}
	g.Go(func() error { // shares the prefix's first letters, but not the prefix
		_, err := st.Put(ctx, prefix+"listing.csv", []byte("no"), "text/csv")
		return err
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	collect := func(got *[]s3store.Object) func(s3store.Object) error {
		return func(o s3store.Object) error {
			if o.LastModified.IsZero() {
				return fmt.Errorf("%s: no LastModified", o.Key)
			}
			*got = append(*got, o)
			return nil
		}
	}
	ignoreTime := cmpopts.IgnoreFields(s3store.Object{}, "LastModified")

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		var got []s3store.Object
		if err := st.List(t.Context(), dir, collect(&got)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
	})
	t.Run("pages of 10", func(t *testing.T) {
		t.Parallel()
		var got []s3store.Object
		pages, err := s3store.ListPages(t.Context(), st, dir, 10, collect(&got))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
		if pages < 3 {
			t.Errorf("%d pages of at most 10 keys for 30 objects: the server ignored MaxKeys", pages)
		}
	})
	t.Run("pages of 7", func(t *testing.T) { // the last page is not full
		t.Parallel()
		var got []s3store.Object
		pages, err := s3store.ListPages(t.Context(), st, dir, 7, collect(&got))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
		if pages != 5 {
			t.Errorf("%d pages, want 5", pages)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		t.Parallel()
		errStop := errors.New("stop")
		var n int
		_, err := s3store.ListPages(t.Context(), st, dir, 10, func(s3store.Object) error {
			n++
			if n == 15 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || n != 15 {
			t.Errorf("err = %v after %d calls, want %v after 15", err, n, errStop)
		}
	})
	t.Run("no match", func(t *testing.T) {
		t.Parallel()
		var got []s3store.Object
		if err := st.List(t.Context(), prefix+"nothing/", collect(&got)); err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("List(nothing/) = %v, want none", got)
		}
	})
}

func TestPresignGet(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	body := []byte("login_id,name\nada,Ada Lovelace\n")
	key := prefix + "reports/presign me.csv" // a space, to check the URL's escaping
	put(t, st, key, body)

	u, err := st.PresignGet(t.Context(), key, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, localStack["AWS_SECRET_ACCESS_KEY"]) || strings.Contains(u, os.Getenv("AWS_SECRET_ACCESS_KEY")) {
		t.Fatalf("presigned URL contains the secret key")
	}
	status, got := httpGet(t, u)
	if status != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET presigned URL: %d %q, want 200 %q", status, got, body)
	}

	// A tampered signature is refused.
	i := strings.Index(u, "X-Amz-Signature=") + len("X-Amz-Signature=")
	flip := map[byte]byte{'0': '1'}[u[i]]
	if flip == 0 {
		flip = '0'
	}
	tampered := u[:i] + string(flip) + u[i+1:]
	if status, _ := httpGet(t, tampered); status != http.StatusForbidden {
		t.Errorf("GET tampered URL: status %d, want 403", status)
	}

	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := st.PresignGet(t.Context(), key, ttl); err == nil {
			t.Errorf("PresignGet(ttl %v): no error", ttl)
		}
	}
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestPing(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}

	c, err := s3store.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	c.Bucket = "no-such-bucket-" + strings.ToLower(rand.Text())
	missing, err := s3store.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	err = missing.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "ping s3://"+c.Bucket) {
		t.Errorf("Ping(missing bucket) = %v, want an error naming the bucket", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		c       s3store.Config
		wantErr string
	}{
		{name: "aws", c: s3store.Config{Bucket: "userimport", Region: "eu-central-1"}},
		{name: "local", c: s3store.Config{Endpoint: "http://127.0.0.1:9002", Bucket: "userimport", ForcePathStyle: true}},
		{name: "no bucket", c: s3store.Config{Endpoint: "http://127.0.0.1:9002"}, wantErr: "no bucket"},
		{name: "endpoint without scheme", c: s3store.Config{Endpoint: "127.0.0.1:9002", Bucket: "b"}, wantErr: "endpoint"},
		{name: "endpoint with other scheme", c: s3store.Config{Endpoint: "ftp://127.0.0.1", Bucket: "b"}, wantErr: "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := s3store.New(t.Context(), tt.c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Bucket() != tt.c.Bucket {
				t.Errorf("Bucket() = %q, want %q", st.Bucket(), tt.c.Bucket)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                  string
		wantBucket, wantKey string
		wantErr             bool
	}{
		{in: "s3://userimport/uploads/acme/users.csv", wantBucket: "userimport", wantKey: "uploads/acme/users.csv"},
		{in: "s3://my.bucket-1/a", wantBucket: "my.bucket-1", wantKey: "a"},
		{in: "s3://abc/dir/file name (1).csv", wantBucket: "abc", wantKey: "dir/file name (1).csv"},
		{in: "s3://abc/a..b/..c/d..", wantBucket: "abc", wantKey: "a..b/..c/d.."},
		{in: "s3://abc/a/./b", wantBucket: "abc", wantKey: "a/./b"},
		{in: "s3://abc/dir/", wantBucket: "abc", wantKey: "dir/"},
		{in: "s3://abc/%2E%2E/x", wantBucket: "abc", wantKey: "%2E%2E/x"}, // taken literally
		{in: "s3://abc/ünïcödé.csv", wantBucket: "abc", wantKey: "ünïcödé.csv"},
		{in: "s3://abc/" + strings.Repeat("k", 1024), wantBucket: "abc", wantKey: strings.Repeat("k", 1024)},

		{in: "", wantErr: true},
		{in: "userimport/a.csv", wantErr: true},
		{in: "https://userimport.s3.amazonaws.com/a.csv", wantErr: true},
		{in: "S3://userimport/a.csv", wantErr: true},
		{in: "s3:/userimport/a.csv", wantErr: true},
		{in: "s3://", wantErr: true},
		{in: "s3://userimport", wantErr: true},
		{in: "s3://userimport/", wantErr: true},
		{in: "s3:///a.csv", wantErr: true},
		{in: "s3://userimport//etc/passwd", wantErr: true},
		{in: "s3://userimport/..", wantErr: true},
		{in: "s3://userimport/../other/a.csv", wantErr: true},
		{in: "s3://userimport/a/../../b.csv", wantErr: true},
		{in: "s3://userimport/a/..", wantErr: true},
		{in: "s3://UserImport/a.csv", wantErr: true},
		{in: "s3://ab/a.csv", wantErr: true},
		{in: "s3://-abc/a.csv", wantErr: true},
		{in: "s3://abc-/a.csv", wantErr: true},
		{in: "s3://a_b_c/a.csv", wantErr: true},
		{in: "s3://" + strings.Repeat("b", 64) + "/a.csv", wantErr: true},
		{in: "s3://abc/\xff.csv", wantErr: true},
		{in: "s3://abc/" + strings.Repeat("k", 1025), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			bucket, key, err := s3store.ParseURL(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseURL(%q) = %q, %q; want an error", tt.in, bucket, key)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.in, err)
			}
			if bucket != tt.wantBucket || key != tt.wantKey {
				t.Errorf("ParseURL(%q) = %q, %q; want %q, %q", tt.in, bucket, key, tt.wantBucket, tt.wantKey)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    s3store.Config
		wantErr string // a substring of the error: what to set
	}{
		{
			name: "local stack",
			env:  map[string]string{"S3_ENDPOINT": "http://127.0.0.1:9002", "S3_BUCKET": "userimport", "S3_FORCE_PATH_STYLE": "true"},
			want: s3store.Config{Endpoint: "http://127.0.0.1:9002", Bucket: "userimport", ForcePathStyle: true},
		},
		{
			name: "aws: bucket only",
			env:  map[string]string{"S3_BUCKET": "userimport", "AWS_REGION": "eu-west-1"},
			want: s3store.Config{Bucket: "userimport"},
		},
		{
			name: "path style false",
			env:  map[string]string{"S3_BUCKET": "b", "S3_FORCE_PATH_STYLE": "false"},
			want: s3store.Config{Bucket: "b"},
		},
		{
			name: "path style 1",
			env:  map[string]string{"S3_BUCKET": "b", "S3_FORCE_PATH_STYLE": "1"},
			want: s3store.Config{Bucket: "b", ForcePathStyle: true},
		},
		{
			name:    "missing bucket",
			env:     map[string]string{"S3_ENDPOINT": "http://127.0.0.1:9002"},
			wantErr: "S3_BUCKET",
		},
		{
			name:    "bad bool",
			env:     map[string]string{"S3_BUCKET": "b", "S3_FORCE_PATH_STYLE": "yes"},
			wantErr: "S3_FORCE_PATH_STYLE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var read []string
			getenv := func(k string) string {
				read = append(read, k)
				return tt.env[k]
			}
			got, err := s3store.ConfigFromEnv(getenv)
			for _, k := range read {
				if strings.HasPrefix(k, "AWS_") {
					t.Errorf("ConfigFromEnv read %s: credentials and region are the SDK's business", k)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one that says to set %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrNotFoundIsNotSwallowed(t *testing.T) {
	t.Parallel()
	st, prefix := newStore(t)
	// A canceled context is reported as such, not as a missing object.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := st.Head(ctx, prefix+"x")
	if !errors.Is(err, context.Canceled) || errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Head with a canceled context: err = %v, want context.Canceled", err)
	}
	if err != nil && !strings.Contains(err.Error(), "head s3://"+st.Bucket()+"/"+prefix+"x") {
		t.Errorf("error %q lacks the operation and URL", err)
	}
}
