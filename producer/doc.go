// Package producer will turn user files into import jobs and enqueue them as
// asynq tasks. A file reaches it through the HTTP API (an upload, or a request
// to import an object already in S3), through an S3 event when an uploader or
// an HR feed drops a file into the bucket, or through a schedule that fetches a
// feed periodically. For each file it records an import in PostgreSQL and
// enqueues one import:plan task; the worker does the rest.
//
// It holds the HTTP handlers, the S3 event and schedule handling, and the
// enqueueing, but no main: cmd/producer wires it up. It shares only the task
// types and payloads of internal/task with package worker and never imports it.
//
// Nothing lives here yet: the queue pipeline is planned (see README.md).
package producer
