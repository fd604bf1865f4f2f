package postgres

import "context"

// SearchUsersWalking is SearchUsers walking walk users in order before it
// turns to the trigram index.
func (s *Store) SearchUsersWalking(ctx context.Context, tenant string, q UserSearch, walk int) ([]UserSummary, bool, error) {
	return s.searchUsers(ctx, tenant, q, walk)
}

// CopyRows is copyRows, for the tests of its binary encoding.
var CopyRows = copyRows

// PrefixEnd is prefixEnd, for its tests.
var PrefixEnd = prefixEnd

// The chunk transaction's setting and its lookups, for the test of their plans.
const (
	GenericPlans       = genericPlans
	UsersByLogin       = usersByLogin
	ExtensionsByNumber = extensionsByNumber
)

// Lookup is how the chunk transaction runs its lookups.
var Lookup = lookup
