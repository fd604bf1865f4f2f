// Package worker holds the asynq handlers that carry out an import, their
// ServeMux and middleware:
//
//   - import:plan reads the file from S3 once, checks what spans the whole file
//     (the header, duplicate Login IDs, extensions given conflicting settings)
//     and splits it into byte ranges, enqueuing one import:chunk task for each;
//   - import:chunk reads its byte range of the S3 object, validates the records
//     and applies the valid ones to PostgreSQL in one transaction, keeping the
//     rejected ones for the report;
//   - import:finalize runs when every chunk is done: it writes the error report
//     (a CSV in the upload's format) and sends the result e-mail.
//
// Task payloads carry byte ranges, never rows. The handlers depend on small
// interfaces (the object store, the queue, the mailer) declared here, and on
// the PostgreSQL store; cmd/worker wires them to an asynq.Server.
// It shares only internal/task with package producer and never imports it.
package worker
