// Package source reads the users of a campaign, one row at a time, from a
// CSV file, a JSONL file, stdin or an Athena query. It yields rows, not jobs:
// validating them and turning them into jobs is the producer's business.
//
// Every reader streams: memory does not grow with the number of rows (CSV and
// JSONL hold one row, Athena one result page).
package source
