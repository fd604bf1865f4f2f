// Package client is a Go client of userimport's HTTP API, version 1
// (docs/api.md): start an import from a file or an s3:// object, wait for it
// with progress, read its status and error report, retry its rejected
// records, export the tenant's users, and manage the tenant's HR feeds and
// their runs.
//
// A Client acts for one tenant, the one whose API token it sends
// (importctl tokens create):
//
//	c, err := client.New("https://import.example.com", client.WithToken(os.Getenv("USERIMPORT_TOKEN")))
//	im, err := c.UploadFile(ctx, "users.csv", client.ImportOptions{Notify: []string{"hr@acme.example"}})
//	im, err = c.Wait(ctx, im.ID, client.WaitOptions{Progress: func(im client.Import) { log.Print(im.Progress, "%") }})
//
// Every method takes a context and stops when it is cancelled. An answer
// other than success is an *Error carrying the API's status, code and
// message; errors.As gets it, and errors.Is matches it against ErrUnauthorized,
// ErrNotFound and ErrRateLimited.
//
// The client is written by hand rather than generated from an OpenAPI
// document: the API is small (a dozen routes), and by hand it gets idiomatic
// types (ImportState, time.Time, io.Reader uploads streamed without
// buffering the file, io.ReadCloser downloads), a context on every call, a
// typed error, and a Wait with backoff that no generator writes; a generator
// would also add a build dependency for a few hundred lines. The package
// imports only the standard library.
package client
