package s3store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListPages is List with a page size (MaxKeys) of the test's choosing; it
// returns the number of ListObjectsV2 pages fetched.
func ListPages(ctx context.Context, s *Store, prefix string, pageSize int32, fn func(Object) error) (int, error) {
	return s.list(ctx, prefix, pageSize, fn)
}

// Delete removes an object, for the tests' clean-up: the service itself never
// deletes, so Store has no Delete.
func Delete(ctx context.Context, s *Store, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	return err
}
