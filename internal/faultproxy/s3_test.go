package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/userimport/userimport/internal/faultproxy"
)

func getenv(k, fallback string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return fallback
}

// TestS3 runs the AWS SDK against the local stack's versitygw through the
// proxy (deploy/local/stack.sh up starts it): its SigV4 signatures stay valid,
// and its retryer gets past injected SlowDown errors.
func TestS3(t *testing.T) {
	t.Parallel()
	p, err := faultproxy.NewHTTP(getenv("S3_ENDPOINT", "http://127.0.0.1:9002"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	// Without S3_ENDPOINT, the local stack's own credentials.
	keyID, secret := "userimport", "userimport-secret"
	if os.Getenv("S3_ENDPOINT") != "" {
		keyID, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	client := s3.New(s3.Options{
		Region:       getenv("AWS_REGION", "us-east-1"),
		BaseEndpoint: aws.String(p.URL()),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { // 3 attempts, without waiting
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		}),
		DisableLogOutputChecksumValidationSkipped: true,
	})
	bucket, key := getenv("S3_BUCKET", "userimport"), "test/faultproxy/"+rand.Text()
	ctx := t.Context()

	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	}); err != nil {
		t.Fatalf("put through the proxy: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})

	getRange := func() {
		t.Helper()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String("bytes=1000-1048575")})
		if err != nil {
			t.Fatalf("ranged get through the proxy: %v", err)
		}
		defer out.Body.Close()
		got, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body[1000:1<<20]) {
			t.Errorf("ranged get returned %d bytes that differ from the object's", len(got))
		}
	}
	getRange()

	before := p.Stats()
	p.Inject(faultproxy.Fault{Kind: faultproxy.SlowDown, Count: 2, Method: http.MethodGet, Header: "Range"})
	getRange()
	after := p.Stats()
	if got := after.Injected[faultproxy.SlowDown]; got != 2 {
		t.Errorf("%d SlowDown errors injected, want 2", got)
	}
	if got := after.Requests - before.Requests; got != 3 {
		t.Errorf("the SDK made %d requests, want 3 (2 retried)", got)
	}
}
