package s3store

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config says which S3 endpoint and bucket a Store uses. Credentials are not
// part of it: they always come from the SDK's default chain
// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared profiles, IAM roles).
type Config struct {
	Endpoint       string // empty for AWS; e.g. http://127.0.0.1:9002
	Bucket         string
	Region         string // empty: from the SDK's default chain (AWS_REGION), else us-east-1
	ForcePathStyle bool   // bucket in the path (http://host/bucket/key), as S3-compatible servers want
	// ReadTimeout fails a connection silent for this long; 0: DefaultReadTimeout.
	ReadTimeout time.Duration
}

// ConfigFromEnv reads S3_ENDPOINT, S3_BUCKET, S3_FORCE_PATH_STYLE and
// S3_READ_TIMEOUT with getenv.
// It reads nothing secret: credentials and the region come from the SDK's
// default chain when New loads them. S3_BUCKET is required; S3_FORCE_PATH_STYLE
// is optional (default false) and must parse as a bool.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Endpoint: getenv("S3_ENDPOINT"),
		Bucket:   getenv("S3_BUCKET"),
	}
	if c.Bucket == "" {
		return Config{}, errors.New("S3_BUCKET is not set: set it to the bucket that holds the import files (e.g. S3_BUCKET=userimport)")
	}
	if v := getenv("S3_FORCE_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("S3_FORCE_PATH_STYLE=%q is not a bool: set it to true (S3-compatible servers such as versitygw or MinIO) or false (AWS)", v)
		}
		c.ForcePathStyle = b
	}
	if v := getenv("S3_READ_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("S3_READ_TIMEOUT=%q: want a duration above 0 such as 30s", v)
		}
		c.ReadTimeout = d
	}
	return c, nil
}
