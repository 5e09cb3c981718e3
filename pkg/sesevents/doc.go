// Package sesevents is SES's event publishing, for tests and the demo: the
// JSON records SES publishes through a configuration set's event
// destination (Event: Send, Delivery, Bounce, Complaint, Reject, Rendering
// Failure, DeliveryDelay, with the field names of the SES developer guide,
// "Examples of event data that Amazon SES publishes to Amazon SNS"), and a
// Publisher that posts them to an SNS topic the way SES does: for every
// accepted email a Send event, then follow-ups chosen by the recipient's
// address, each after a random delay, some twice.
//
// SES promises neither order nor exactly-once delivery of events; the
// publisher's delays and duplicates make a consumer meet both.
package sesevents
