package intake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"
)

// UploadsPrefix is where uploads are stored uploads: uploads/<tenant>/...
const UploadsPrefix = "uploads/"

// UploadKey names an uploaded file: per tenant, unique, the file's own name
// kept (made safe) for people reading the bucket.
func UploadKey(tenant, name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." || name == "/" {
		name = "upload.csv"
	}
	return fmt.Sprintf("%s%s/%s-%s/%s", UploadsPrefix, tenant, time.Now().UTC().Format("20060102T150405Z"), hex.EncodeToString(b), name)
}

// FileName is the name of the file an import reads, as its uploader knows it:
// the last part of its S3 key: an upload's name as UploadKey kept it, a
// dropped file's as it was dropped.
func FileName(source string) string {
	name := path.Base(source)
	if name == "." || name == "/" || name == "" {
		return source
	}
	return name
}
