// Package source reads the users of a campaign, one row at a time, from a
// CSV file, a JSONL file, stdin or an Athena query. It yields rows, not jobs:
// validating them and turning them into jobs is the producer's business.
//
// Every reader streams: memory does not grow with the number of rows (CSV and
// JSONL hold one row; Athena either streams the CSV file the query wrote to
// S3 — one GET, or --athena-s3-parallel ranged GETs of 8 MiB ahead — or holds
// one GetQueryResults page).
package source
