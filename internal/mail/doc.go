// Package mail sends the e-mail that tells an uploader how an import ended:
// the counts, the first errors in words, how to fix and re-upload the
// rejected records, and the error report (attached, or linked when large).
//
// Compose builds the message (subject, plain text, HTML); a Sender delivers
// it over SMTP, configured by ConfigFromEnv from SMTP_URL and MAIL_FROM.
// IsPermanent tells a message that cannot be delivered (retrying is
// pointless) from a failure worth retrying.
package mail
