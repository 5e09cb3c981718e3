// Package sesfake is a small, fast, in-process server that speaks the part
// of the SES v2 REST/JSON API sendonce uses: SendEmail (templated and simple
// content), SendBulkEmail (per-entry results), CreateEmailTemplate,
// Get/Update/DeleteEmailTemplate, TestRenderEmailTemplate and GetAccount. The real aws-sdk-go-v2 sesv2
// client talks to it unchanged (set BaseEndpoint or AWS_ENDPOINT_URL_SESV2
// to URL(); any credentials are accepted).
//
// It counts every accepted email per recipient so that tests and `make
// demo` can see duplicates and misses, can write each email as an .eml file,
// and can answer chosen requests with SES's errors (Config.Fault per email
// or bulk entry, Config.BulkFault per bulk call). Config.OnAccepted hears of
// every accepted email, for SES-style events (pkg/sesevents). The hot
// path is lean (no disk I/O unless OutboxDir is set, sharded counters) so
// that benchmarks measure the sender, not the fake.
//
// Templates use the Handlebars subset {{var}}, {{{var}}}, {{a.b}} and
// {{! comments }}; like SES, values are not HTML-escaped and a missing
// variable renders empty. Block helpers ({{#if}}, {{#each}}) are refused at
// creation.
package sesfake
