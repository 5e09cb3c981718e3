// Package reconcile settles every send from SES's own events. SES publishes
// an event for each email of a configuration set (Send, Delivery, Bounce,
// Complaint, DeliveryDelay, Reject, Rendering Failure) to SNS, which fans
// it out to an SQS queue; `sender reconcile` reads that queue and, for each
// event that names one attempt of one of our users (the campaign, attempt
// and user_ref EmailTags), settles the user's fence key from it and records
// the result in the ledger (and the DLQ for a failure).
//
// One batch of the queue runs the named steps parse → settle → record →
// delete. A message is deleted only once its effects are durable: the fence
// is settled and the ledger (and DLQ) records are acknowledged by Kafka. A
// Redis or Kafka outage is retried; its messages stay in the queue.
// A message that does not parse is never deleted: the queue's redrive
// policy moves it to the queue's own dead-letter queue after
// maxReceiveCount receives, and it blocks nothing meanwhile.
//
// Events are at-least-once, late and out of order; the fence decides (it
// keeps one attempt per user and the highest fact), so applying an event
// twice changes nothing twice.
package reconcile
