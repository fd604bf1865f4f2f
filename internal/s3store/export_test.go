package s3store

import "context"

// ListPages is List with a page size (MaxKeys) of the test's choosing; it
// returns the number of ListObjectsV2 pages fetched.
func ListPages(ctx context.Context, s *Store, prefix string, pageSize int32, fn func(Object) error) (int, error) {
	return s.list(ctx, prefix, pageSize, fn)
}
