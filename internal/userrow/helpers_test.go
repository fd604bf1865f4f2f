package userrow_test

import (
	"crypto/md5" //nolint:gosec // the format's password hashes are MD5
	"encoding/hex"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}
