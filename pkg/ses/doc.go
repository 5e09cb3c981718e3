// Package ses is the thin adapter between sendonce and Amazon SES v2: one
// Client with Send (SendEmail with a stored template), SendBulk
// (SendBulkEmail, up to 50 recipients of one template, a result per entry
// classified by the same tables, see BulkStatuses), Account (GetAccount),
// CreateTemplate and Render (TestRenderEmailTemplate), and the error
// classification that decides what the sender does after a failed send.
//
// Send never retries by itself. A SendEmail whose response was lost may have
// been accepted, so retrying it inside the SDK would be a duplicate nobody
// could see; instead every failure comes back as a *SendError whose Class
// (see Classify) says whether the request surely never reached SES
// (retry.NotSent), surely was refused (Throttled, Quota, Permanent, Stop) or
// may have been accepted (retry.Ambiguous). The sender decides. A
// SendBulkEmail that fails as a whole fails for every entry: when it may
// have been accepted, all its entries are ambiguous
// (sendonce_ses_bulk_entries_total counts them).
package ses
