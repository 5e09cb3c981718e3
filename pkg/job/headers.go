package job

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names carried on job records in the retry tiers and the DLQ.
const (
	HeaderCampaign     = "sendonce-campaign"
	HeaderAttempt      = "sendonce-attempt"
	HeaderNotBefore    = "sendonce-not-before" // unix milliseconds
	HeaderErrorClass   = "sendonce-error-class"
	HeaderLastError    = "sendonce-last-error"
	HeaderOrigTopic    = "sendonce-orig-topic"
	HeaderOrigPart     = "sendonce-orig-partition"
	HeaderOrigOffset   = "sendonce-orig-offset"
	HeaderDLQReason    = "sendonce-dlq-reason"
	HeaderDeadLettered = "sendonce-dead-lettered-at" // unix milliseconds
)

// MaxErrorText bounds the error text carried in headers.
const MaxErrorText = 512

// Header returns the value of the named header, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// SetHeader replaces (or adds) a header.
func SetHeader(r *kgo.Record, key, value string) {
	for i, h := range r.Headers {
		if h.Key == key {
			r.Headers[i].Value = []byte(value)
			return
		}
	}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// NotBefore returns the not-before time of a retry record, and false when
// the header is absent or unreadable (the record is then due at once).
func NotBefore(r *kgo.Record) (time.Time, bool) {
	v := Header(r, HeaderNotBefore)
	if v == "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Truncate shortens error text for a header.
func Truncate(s string) string {
	if len(s) <= MaxErrorText {
		return s
	}
	return s[:MaxErrorText]
}
