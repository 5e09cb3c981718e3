package ses

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
)

func testBulk(n int) BulkMessage {
	m := BulkMessage{From: "news@example.com", Template: "welcome", ConfigurationSet: "marketing", Tags: map[string]string{"campaign": "2026-11"}}
	for i := range n {
		m.Entries = append(m.Entries, BulkEntry{
			To:           fmt.Sprintf("u%d@example.org", i),
			TemplateData: fmt.Sprintf(`{"n":%d}`, i),
			Headers: map[string]string{
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"List-Unsubscribe":      fmt.Sprintf("<https://example.com/u/%d>", i),
			},
			Tags: map[string]string{"user_hash": fmt.Sprintf("h%d", i), "attempt": "a1", "campaign": "2026-11"},
		})
	}
	return m
}

// bulkAnswer answers a SendBulkEmail with one result per entry, the i-th
// with statuses[i] (SUCCESS when statuses is shorter), and records the
// request body.
func bulkAnswer(got *map[string]any, statuses ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		if got != nil {
			*got = in
		}
		entries, _ := in["BulkEmailEntries"].([]any)
		var res []map[string]string
		for i := range entries {
			st := "SUCCESS"
			if i < len(statuses) {
				st = statuses[i]
			}
			e := map[string]string{"Status": st}
			if st == "SUCCESS" {
				e["MessageId"] = fmt.Sprintf("m-%d", i)
			} else {
				e["Error"] = "refused: " + st
			}
			res = append(res, e)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"BulkEmailEntryResults": res})
	}
}

func TestSendBulkWireFormat(t *testing.T) {
	var got map[string]any
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		bulkAnswer(&got)(w, r)
	}))
	defer srv.Close()
	c := testClient(t, srv.URL, time.Second, prometheus.NewRegistry())

	m := testBulk(2)
	m.Entries[1].TemplateData = ""
	m.Entries[1].Tags["user ref"] = "ann@example.org" // made to fit SES
	m.Entries = append(m.Entries, BulkEntry{})        // no To: not sent
	res, err := c.SendBulk(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "/v2/email/outbound-bulk-emails", path)
	require.Len(t, res, 3)
	require.Equal(t, BulkResult{MessageID: "m-0"}, res[0])
	require.Equal(t, BulkResult{MessageID: "m-1"}, res[1])
	var se *SendError
	require.ErrorAs(t, res[2].Err, &se)
	require.Equal(t, retry.Permanent, se.Class)
	require.ErrorIs(t, res[2].Err, ErrInvalidMessage)

	entry := func(i int, data string, tags ...any) map[string]any {
		return map[string]any{
			"Destination":             map[string]any{"ToAddresses": []any{fmt.Sprintf("u%d@example.org", i)}},
			"ReplacementEmailContent": map[string]any{"ReplacementTemplate": map[string]any{"ReplacementTemplateData": data}},
			"ReplacementHeaders": []any{
				map[string]any{"Name": "List-Unsubscribe", "Value": fmt.Sprintf("<https://example.com/u/%d>", i)},
				map[string]any{"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
			},
			"ReplacementTags": tags,
		}
	}
	tag := func(n, v string) any { return map[string]any{"Name": n, "Value": v} }
	want := map[string]any{
		"FromEmailAddress":     "news@example.com",
		"ConfigurationSetName": "marketing",
		"DefaultContent":       map[string]any{"Template": map[string]any{"TemplateName": "welcome", "TemplateData": "{}"}},
		"DefaultEmailTags":     []any{tag("campaign", "2026-11")},
		"BulkEmailEntries": []any{
			entry(0, `{"n":0}`, tag("attempt", "a1"), tag("campaign", "2026-11"), tag("user_hash", "h0")),
			entry(1, `{}`, tag("attempt", "a1"), tag("campaign", "2026-11"), tag("user_hash", "h1"), tag(TagValue("user ref"), TagValue("ann@example.org"))),
		},
	}
	require.Equal(t, want, got)
	require.Equal(t, 1.0, counterValue(c.m.requests.WithLabelValues("SendBulkEmail", "ok")))
	require.Equal(t, 2.0, counterValue(c.m.entries.WithLabelValues("ok")))
	require.Equal(t, 1.0, counterValue(c.m.entries.WithLabelValues("permanent")))
}

// TestSendBulkEntryStatuses maps every entry status through the table Send
// uses, with the code the sender's scoped pauses read.
func TestSendBulkEntryStatuses(t *testing.T) {
	cases := []struct {
		status string
		class  retry.Class
		code   string
	}{
		{"MESSAGE_REJECTED", retry.Permanent, "MessageRejected"},
		{"MAIL_FROM_DOMAIN_NOT_VERIFIED", retry.Permanent, "MailFromDomainNotVerifiedException"},
		{"CONFIGURATION_SET_NOT_FOUND", retry.Permanent, "ConfigurationSetDoesNotExistException"},
		{"CONFIGURATION_SET_DOES_NOT_EXIST", retry.Permanent, "ConfigurationSetDoesNotExistException"},
		{"CONFIGURATION_SET_SENDING_PAUSED", retry.Stop, "ConfigurationSetSendingPausedException"},
		{"TEMPLATE_NOT_FOUND", retry.Permanent, "TemplateDoesNotExist"},
		{"TEMPLATE_DOES_NOT_EXIST", retry.Permanent, "TemplateDoesNotExist"},
		{"INVALID_PARAMETER", retry.Permanent, "InvalidParameterValue"},
		{"INVALID_SENDING_POOL_NAME", retry.Permanent, "InvalidParameterValue"},
		{"ACCOUNT_SUSPENDED", retry.Stop, "AccountSuspendedException"},
		{"ACCOUNT_SENDING_PAUSED", retry.Stop, "SendingPausedException"},
		{"ACCOUNT_THROTTLED", retry.Throttled, "TooManyRequestsException"},
		{"MAX_SENDING_RATE_EXCEEDED", retry.Throttled, "TooManyRequestsException"},
		{"ACCOUNT_DAILY_QUOTA_EXCEEDED", retry.Quota, "LimitExceededException"},
		{"TRANSIENT_FAILURE", retry.NotSent, "TRANSIENT_FAILURE"},
		{"FAILED", retry.NotSent, "FAILED"},
		{"SOMETHING_NEW", retry.NotSent, "SOMETHING_NEW"},
	}
	statuses := []string{"SUCCESS"}
	for _, tc := range cases {
		statuses = append(statuses, tc.status)
	}
	var n atomic.Int64
	srv := httptest.NewServer(counting(&n, bulkAnswer(nil, statuses...)))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	c := testClient(t, srv.URL, time.Second, reg)

	res, err := c.SendBulk(context.Background(), testBulk(len(statuses)))
	require.NoError(t, err)
	require.Equal(t, int64(1), n.Load())
	require.Len(t, res, len(statuses))
	require.Equal(t, BulkResult{MessageID: "m-0"}, res[0])
	for i, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			r := res[i+1]
			require.Empty(t, r.MessageID)
			var se *SendError
			require.ErrorAs(t, r.Err, &se)
			require.Equal(t, tc.class, se.Class, "%v", r.Err)
			require.Equal(t, tc.code, se.Code)
			require.True(t, se.Written)
			var ee *EntryError
			require.ErrorAs(t, r.Err, &ee)
			require.Equal(t, tc.status, ee.Status)
			require.Equal(t, "refused: "+tc.status, ee.Message)
			// An entry with a SendEmail twin is classified exactly as
			// Send's answer with the same code and message.
			if _, ok := Codes[tc.code]; ok {
				require.Equal(t, Classify(apiErr(400, tc.code, ee.Message), true), se.Class)
			}
		})
	}
	require.Equal(t, 2.0, counterValue(c.m.entries.WithLabelValues("throttled")))
}

func TestSendBulkMessageDecidesLikeSend(t *testing.T) {
	// SES tells the daily quota from the rate only in the message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"BulkEmailEntryResults":[{"Status":"ACCOUNT_THROTTLED","Error":"Daily message quota exceeded."},{"MessageId":"m-1"}]}`)
	}))
	defer srv.Close()
	c := testClient(t, srv.URL, time.Second, nil)
	res, err := c.SendBulk(context.Background(), testBulk(3))
	require.NoError(t, err)
	var se *SendError
	require.ErrorAs(t, res[0].Err, &se)
	require.Equal(t, retry.Quota, se.Class)
	// No status, and no result at all: SES may have accepted them.
	for _, r := range res[1:] {
		require.ErrorAs(t, r.Err, &se)
		require.Equal(t, retry.Ambiguous, se.Class, "%v", r.Err)
	}
}

// TestSendBulkWholeCall: an error of the call applies to every entry.
func TestSendBulkWholeCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		class   retry.Class
		code    string
	}{
		{"429", sesError(429, "TooManyRequestsException", "Maximum sending rate exceeded."), retry.Throttled, "TooManyRequestsException"},
		{"daily quota", sesError(400, "LimitExceededException", "Daily message quota exceeded."), retry.Quota, "LimitExceededException"},
		{"configuration set paused", sesError(400, "ConfigurationSetSendingPausedException", "paused"), retry.Stop, "ConfigurationSetSendingPausedException"},
		{"503", sesError(503, "", "Service Unavailable"), retry.Ambiguous, "HTTP 503"},
		{"closes the connection after reading the request", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		}, retry.Ambiguous, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(counting(&n, tc.handler))
			defer srv.Close()
			c := testClient(t, srv.URL, 2*time.Second, prometheus.NewRegistry())
			res, err := c.SendBulk(context.Background(), testBulk(7))
			require.Nil(t, res)
			var se *SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.class, se.Class, "%v", err)
			require.Equal(t, tc.code, se.Code)
			require.True(t, se.Written)
			require.Equal(t, int64(1), n.Load(), "exactly one request, no SDK retries")
			require.Equal(t, 1.0, counterValue(c.m.requests.WithLabelValues("SendBulkEmail", string(tc.class))))
			require.Equal(t, 7.0, counterValue(c.m.entries.WithLabelValues(string(tc.class))), "every entry shares the call's class")
		})
	}
}

func TestSendBulkNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	c := testClient(t, closedURL, time.Second, nil)

	_, err = c.SendBulk(context.Background(), testBulk(2))
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.NotSent, se.Class, "%v", err)
	require.False(t, se.Written)

	// Too many entries, or no template: refused before any call.
	_, err = c.SendBulk(context.Background(), testBulk(MaxBulkEntries+1))
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.Permanent, se.Class)
	require.ErrorIs(t, err, ErrTooManyEntries)
	m := testBulk(1)
	m.Template = ""
	_, err = c.SendBulk(context.Background(), m)
	require.ErrorIs(t, err, ErrInvalidMessage)

	res, err := c.SendBulk(context.Background(), BulkMessage{})
	require.NoError(t, err)
	require.Empty(t, res)
}
