package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/source"
)

// Reason is the stable code of a rejected row, used in the rejects report,
// the summary and the rejected_total metric.
type Reason string

// The reject reasons.
const (
	ReasonMalformedRow  Reason = "malformed_row"   // the source could not parse the row
	ReasonMissingUserID Reason = "missing_user_id" // user_id is empty
	ReasonUserIDTooLong Reason = "user_id_too_long"
	ReasonMissingEmail  Reason = "missing_email"
	ReasonInvalidEmail  Reason = "invalid_email" // not exactly one bare address
	ReasonEmailTooLong  Reason = "email_too_long"
	ReasonDataTooLarge  Reason = "data_too_large" // template data over the SES limit
	ReasonDuplicateUser Reason = "duplicate_user" // user_id already published in this run
)

// Reasons lists every reason, in report order.
var Reasons = [...]Reason{
	ReasonMalformedRow, ReasonMissingUserID, ReasonUserIDTooLong, ReasonMissingEmail,
	ReasonInvalidEmail, ReasonEmailTooLong, ReasonDataTooLarge, ReasonDuplicateUser,
}

// Limits of a row.
const (
	MaxUserIDBytes = 256
	MaxEmailChars  = 254 // RFC 5321 path limit
)

// CheckRow validates a row read from a source. It returns "" for a row that
// can be published, or the reason and a detail for the report. The email
// address is never echoed in the detail (reports and logs hold no
// addresses). It trims the email of surrounding spaces in place.
func CheckRow(row *source.Row) (Reason, string) {
	if row.Err != nil {
		if errors.Is(row.Err, source.ErrRowTooLarge) {
			return ReasonDataTooLarge, row.Err.Error()
		}
		return ReasonMalformedRow, row.Err.Error()
	}
	switch {
	case row.UserID == "":
		return ReasonMissingUserID, "user_id is empty"
	case len(row.UserID) > MaxUserIDBytes:
		return ReasonUserIDTooLong, fmt.Sprintf("user_id is %d bytes, the limit is %d", len(row.UserID), MaxUserIDBytes)
	}
	row.Email = strings.TrimSpace(row.Email)
	if r, d := checkEmail(row.Email); r != "" {
		return r, d
	}
	if n := encodedDataLen(row.Data); n > job.MaxTemplateData {
		return ReasonDataTooLarge, fmt.Sprintf("template data is %d bytes of JSON, the SES limit is %d", n, job.MaxTemplateData)
	}
	return "", ""
}

func checkEmail(email string) (Reason, string) {
	if email == "" {
		return ReasonMissingEmail, "email is empty"
	}
	if n := utf8.RuneCountInString(email); n > MaxEmailChars {
		return ReasonEmailTooLong, fmt.Sprintf("email is %d characters, the limit is %d", n, MaxEmailChars)
	}
	if strings.ContainsAny(email, "<>()") {
		// A display name ("Ann <a@example.com>") or a comment: we want the
		// bare address the user gave, nothing more.
		return ReasonInvalidEmail, "email must be a bare address (no display name, comment or angle brackets)"
	}
	// job.CheckAddress is what the sender checks again: an ASCII local
	// part and an IDNA domain, which SES accepts. Its errors never echo the
	// address (net/mail's do).
	if err := job.CheckAddress(email); err != nil {
		return ReasonInvalidEmail, "email is not a valid address: " + strings.TrimPrefix(err.Error(), job.ErrAddress.Error()+": ")
	}
	return "", ""
}

// encodedDataLen is the length of the data as the job will carry it:
// encoding/json compacts it and escapes <, >, &, U+2028 and U+2029, which can
// make it up to six times longer. The exact length is only computed when the
// bound could matter.
func encodedDataLen(d json.RawMessage) int {
	if len(d)*6 <= job.MaxTemplateData {
		return len(d)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, d); err != nil {
		return len(d)
	}
	var e bytes.Buffer
	json.HTMLEscape(&e, c.Bytes())
	return e.Len()
}
