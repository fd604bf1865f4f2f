// Package producer turns user files into import jobs and enqueues them as
// asynq tasks. A file reaches it through the HTTP API (an upload, or a request
// to import an object already in S3) or through an S3 event when an uploader
// drops a file under the incoming prefix (schedules for HR feeds are planned).
// For each file it records an import in PostgreSQL and enqueues one
// import:plan task; the workers do the rest.
//
// It holds the HTTP handlers, the S3 event handling and the enqueueing, but no
// main: cmd/producer wires it up. It shares only the task types and payloads
// of internal/task with package worker and never imports it.
package producer
