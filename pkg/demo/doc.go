// Package demo runs the whole sendonce pipeline in one process on embedded
// services, for `make demo`: an in-process Kafka (kfake), an in-process Redis
// (miniredis), a local SES v2 endpoint (pkg/sesfake) that writes every
// accepted email to an outbox folder, and an in-process events queue that
// stands in for SES's event publishing (configuration set → SNS → SQS).
//
// Only the endpoints are stand-ins. The producer, the senders (batches:
// SendBulkEmail), the retrier and the reconciler (`sender reconcile`) are
// the production packages, wired the way their binaries wire them, and the
// SES client is the real aws-sdk-go-v2 client pointed at the local
// endpoint. The demo injects trouble on purpose (SES throttles a share of
// the first attempts; one sender is stopped and replaced mid-run; one
// SendBulkEmail is accepted by SES and answered with a 503, so that only
// SES's events can settle its users), waits until the ledger says every
// valid user is settled, and then checks the outbox: exactly one email per
// valid user and none for a rejected row.
package demo
