// Package job defines the email job message that flows through every topic:
// its JSON encoding, its Kafka key and the headers the sender and retrier
// exchange. It does no I/O.
package job
