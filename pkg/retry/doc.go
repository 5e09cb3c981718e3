// Package retry is the backoff policy as data: the retry tiers, jitter,
// maximum attempts and the mapping from an error class to what the sender
// does. The sender and the retrier share it so they never disagree.
package retry
