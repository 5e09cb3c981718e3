package ses

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/retry"
)

// SendError is every error Send returns.
type SendError struct {
	// Class is what kind of failure this is (see Classify).
	Class retry.Class
	// Written reports whether the request was completely written to the
	// connection (or an answer came back): only then may SES have acted.
	Written bool
	// Code is SES's error code ("TooManyRequestsException"), "HTTP <status>"
	// for an answer without a code, or empty for a transport error.
	Code string
	// Err is the underlying error.
	Err error
}

// Error is the text stored in ledger entries, fence records, DLQ headers
// and logs: SES answers can name the recipient ("...failed the check:
// ann@example.com"), so addresses are redacted.
func (e *SendError) Error() string {
	if e.Code != "" {
		return job.RedactAddresses(fmt.Sprintf("ses send (%s, %s): %v", e.Class, e.Code, e.Err))
	}
	return job.RedactAddresses(fmt.Sprintf("ses send (%s): %v", e.Class, e.Err))
}

func (e *SendError) Unwrap() error { return e.Err }

// Codes maps SES error codes to classes. Codes are matched exactly, after
// the SDK strips namespace prefixes. SES v2 names come first; the v1 names
// (Throttling, AccountSendingPausedException...) and generic AWS auth codes
// are listed so that a proxy or an older endpoint is classified the same way.
var Codes = map[string]retry.Class{
	// SES refused the call before accepting the email: try again later.
	"TooManyRequestsException": retry.Throttled,
	"ThrottlingException":      retry.Throttled,
	"Throttling":               retry.Throttled,

	// The sending quota is used up. (A throttling code whose message names
	// the daily quota is Quota too, see Messages.)
	"LimitExceededException": retry.Quota,

	// This email will never be accepted as it is.
	"MessageRejected":                    retry.Permanent,
	"BadRequestException":                retry.Permanent,
	"NotFoundException":                  retry.Permanent,
	"MailFromDomainNotVerifiedException": retry.Permanent,
	"InvalidParameterValue":              retry.Permanent,
	"TemplateDoesNotExist":               retry.Permanent,
	// SES v1's name; SES v2 answers NotFoundException. Listed so that a
	// SendBulkEmail entry (see BulkStatuses) is classified as SendEmail's
	// answer with this code always was (an unknown 4xx).
	"ConfigurationSetDoesNotExistException": retry.Permanent,

	// No email of this account can be sent: stop everything rather than
	// dead-letter a whole campaign one email at a time. Bad or expired
	// credentials belong here for the same reason.
	"AccountSuspendedException":              retry.Stop,
	"SendingPausedException":                 retry.Stop,
	"AccountSendingPausedException":          retry.Stop,
	"ConfigurationSetSendingPausedException": retry.Stop,
	"AccessDeniedException":                  retry.Stop,
	"UnrecognizedClientException":            retry.Stop,
	"InvalidClientTokenId":                   retry.Stop,
	"InvalidSignatureException":              retry.Stop,
	"SignatureDoesNotMatch":                  retry.Stop,
	"IncompleteSignature":                    retry.Stop,
	"MissingAuthenticationToken":             retry.Stop,

	// Refused unsent because the credentials expired in flight; the SDK
	// refreshes them, so a retry goes through.
	"ExpiredToken":          retry.NotSent,
	"ExpiredTokenException": retry.NotSent,
}

// BulkStatuses maps the Status of a SendBulkEmail entry to the error code
// SendEmail answers for the same refusal. The entry is then classified by
// the same tables as Send's errors (Messages, then Codes), and its SendError
// carries that Code, so that the sender's pauses scoped to a configuration
// set or an identity work per entry as they do per SendEmail. The v1 names
// (..._DOES_NOT_EXIST, MAX_SENDING_RATE_EXCEEDED) are listed for proxies and
// emulators that use them.
//
// SUCCESS is no error. A status not listed here (TRANSIENT_FAILURE, FAILED,
// or one SES adds later) keeps its own name as Code and is retry.NotSent:
// the status is SES's answer for that entry, and it did not accept it.
var BulkStatuses = map[string]string{
	"MESSAGE_REJECTED":                 "MessageRejected",
	"MAIL_FROM_DOMAIN_NOT_VERIFIED":    "MailFromDomainNotVerifiedException",
	"CONFIGURATION_SET_NOT_FOUND":      "ConfigurationSetDoesNotExistException",
	"CONFIGURATION_SET_DOES_NOT_EXIST": "ConfigurationSetDoesNotExistException",
	"CONFIGURATION_SET_SENDING_PAUSED": "ConfigurationSetSendingPausedException",
	"TEMPLATE_NOT_FOUND":               "TemplateDoesNotExist",
	"TEMPLATE_DOES_NOT_EXIST":          "TemplateDoesNotExist",
	"INVALID_PARAMETER":                "InvalidParameterValue",
	"INVALID_SENDING_POOL_NAME":        "InvalidParameterValue",
	"ACCOUNT_SUSPENDED":                "AccountSuspendedException",
	"ACCOUNT_SENDING_PAUSED":           "SendingPausedException",
	"ACCOUNT_THROTTLED":                "TooManyRequestsException",
	"MAX_SENDING_RATE_EXCEEDED":        "TooManyRequestsException",
	"ACCOUNT_DAILY_QUOTA_EXCEEDED":     "LimitExceededException",
}

// bulkSuccess is the Status of an accepted SendBulkEmail entry.
const bulkSuccess = "SUCCESS"

// EntryError is SES's refusal of one entry of a SendBulkEmail call. It is
// the Err of that entry's SendError, and a smithy.APIError, so that code
// and message are read like those of a SendEmail answer.
type EntryError struct {
	// Status is the entry's BulkEmailEntryResult.Status ("MESSAGE_REJECTED").
	Status string
	// Code is the SendEmail code of the same refusal (BulkStatuses), or
	// Status when there is none.
	Code string
	// Message is the entry's BulkEmailEntryResult.Error.
	Message string
}

func (e *EntryError) Error() string {
	if e.Message == "" {
		return "SendBulkEmail entry " + e.Status
	}
	return "SendBulkEmail entry " + e.Status + ": " + e.Message
}

// ErrorCode, ErrorMessage and ErrorFault implement smithy.APIError.
func (e *EntryError) ErrorCode() string             { return e.Code }
func (e *EntryError) ErrorMessage() string          { return e.Message }
func (e *EntryError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

// entryError classifies a refused entry: nil for SUCCESS.
func entryError(status, msg string) *SendError {
	if status == bulkSuccess {
		return nil
	}
	code, ok := BulkStatuses[status]
	if !ok {
		code = status
	}
	class := classifyAnswer(code, msg)
	if class == "" {
		class = retry.NotSent
	}
	return &SendError{Class: class, Written: true, Code: code, Err: &EntryError{Status: status, Code: code, Message: msg}}
}

// MessageRule classifies an error by a phrase of its message.
type MessageRule struct {
	Contains string
	Class    retry.Class
}

// Messages are checked before Codes. SES answers both limits with a
// throttling error and tells them apart only in the message ("Daily message
// quota exceeded" / "Maximum sending rate exceeded", see the SES guide
// "Errors related to the sending quotas"): the daily quota does not come
// back in seconds, the rate does.
var Messages = []MessageRule{
	{Contains: "daily message quota exceeded", Class: retry.Quota},
	{Contains: "maximum sending rate exceeded", Class: retry.Throttled},
}

// Statuses classify an answer whose code is not in Codes.
//   - 429 is throttling.
//   - 401 and 403 mean the credentials or the policy are wrong for every
//     email: Stop.
//   - 408 means the server gave up reading the request; it is classed
//     Ambiguous only to stay on the safe side with proxies.
//   - Any other 4xx is Permanent: SES read the request and refused it, and
//     the same request would be refused again. This dead-letters the email
//     rather than retrying forever; a new SES code that should be retried
//     has to be added to Codes.
//   - 5xx, and anything else, is Ambiguous: SES may have accepted the email
//     before failing to answer.
var Statuses = map[int]retry.Class{
	http.StatusTooManyRequests: retry.Throttled,
	http.StatusUnauthorized:    retry.Stop,
	http.StatusForbidden:       retry.Stop,
	http.StatusRequestTimeout:  retry.Ambiguous,
}

// Classify says what kind of failure err is. written reports whether the
// request was completely written (Send tracks it with net/http/httptrace).
//
// An answer from SES is classified by message (Messages), then code
// (Codes), then HTTP status (Statuses and the rules there). An error without
// an answer (connection refused, DNS, reset, timeout, cancelled context) is
// Ambiguous if the request was written, since SES may have accepted it and
// the answer been lost, and NotSent otherwise. Classify(nil, _) is "".
func Classify(err error, written bool) retry.Class {
	if err == nil {
		return ""
	}
	code, msg, status := describe(err)
	if code != "" || status != 0 {
		if c := classifyAnswer(code, msg); c != "" {
			return c
		}
	}
	if status != 0 {
		if c, ok := Statuses[status]; ok {
			return c
		}
		if status >= 400 && status < 500 {
			return retry.Permanent
		}
		return retry.Ambiguous
	}
	if written {
		return retry.Ambiguous
	}
	return retry.NotSent
}

// classifyAnswer classifies an answer by message (Messages), then code
// (Codes); "" when neither knows it. Send's errors and SendBulk's entries
// both go through it.
func classifyAnswer(code, msg string) retry.Class {
	if msg != "" {
		lower := strings.ToLower(msg)
		for _, r := range Messages {
			if strings.Contains(lower, r.Contains) {
				return r.Class
			}
		}
	}
	return Codes[code]
}

// describe extracts the API error code and message and the HTTP status of
// the answer, if any. The SDK wraps an API error in a ResponseError that
// carries the status; a transport error has neither.
func describe(err error) (code, msg string, status int) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
		if code == "UnknownError" { // the SDK's name for "no code in the answer"
			code = ""
		}
	}
	var awsResp *awshttp.ResponseError
	var resp *smithyhttp.ResponseError
	switch {
	case errors.As(err, &awsResp):
		status = awsResp.HTTPStatusCode()
	case errors.As(err, &resp):
		status = resp.HTTPStatusCode()
	}
	return code, msg, status
}

// newSendError classifies err.
func newSendError(err error, written bool) *SendError {
	code, _, status := describe(err)
	if code == "" && status != 0 {
		code = fmt.Sprintf("HTTP %d", status)
	}
	return &SendError{
		Class:   Classify(err, written),
		Written: written || status != 0,
		Code:    code,
		Err:     err,
	}
}
