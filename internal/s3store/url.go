package s3store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on the length of an object key, in bytes.
const maxKeyLen = 1024

// ParseURL splits "s3://bucket/key" into its bucket and key. The key is taken
// literally (no percent-decoding). It fails for any other scheme, for a bucket
// name S3 would not accept, for an empty key, for a key with a leading "/" or a
// ".." path segment, and for a key that is not valid UTF-8 or longer than
// 1024 bytes.
func ParseURL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("parse %q: not an s3://bucket/key URL", u)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("parse %q: %w", u, err)
	}
	if err := checkKey(key); err != nil {
		return "", "", fmt.Errorf("parse %q: %w", u, err)
	}
	return bucket, key, nil
}

// checkBucket applies S3's naming rules for general purpose buckets: 3 to 63
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
func checkBucket(b string) error {
	if b == "" {
		return fmt.Errorf("empty bucket name")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q: must be 3 to 63 characters", b)
	}
	for i := range len(b) {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		switch {
		case alnum:
		case (c == '.' || c == '-') && i > 0 && i < len(b)-1:
		default:
			return fmt.Errorf("bucket name %q: only lower-case letters, digits, '.' and '-' (not first or last) are allowed", b)
		}
	}
	return nil
}

// checkKey rejects keys that are empty, absolute or that climb out of their
// prefix: keys end up in reports and local paths, where "a/../b" must not mean "b".
func checkKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty key")
	case len(k) > maxKeyLen:
		return fmt.Errorf("key longer than %d bytes", maxKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("key is not valid UTF-8")
	case strings.HasPrefix(k, "/"):
		return fmt.Errorf("key %q starts with '/'", k)
	}
	for seg := range strings.SplitSeq(k, "/") {
		if seg == ".." {
			return fmt.Errorf("key %q has a '..' path segment", k)
		}
	}
	return nil
}
