package ses

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
)

func testClient(t *testing.T, url string, timeout time.Duration, reg prometheus.Registerer) *Client {
	t.Helper()
	api := sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRET", ""),
		// The SDK's default: retries on. Send must turn them off.
		RetryMaxAttempts: 5,
	})
	return NewFromAPI(api, Config{Timeout: timeout}, reg)
}

var testMessage = Message{
	From:             "news@example.com",
	To:               "ann@example.org",
	Template:         "welcome",
	ConfigurationSet: "marketing",
	TemplateData:     `{"name":"Ann"}`,
	Headers: map[string]string{
		"List-Unsubscribe":      "<https://example.com/u/1>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	},
	Tags: map[string]string{"campaign": "2026-11", "user": "u1@x"},
}

// counting wraps a handler and counts the requests that reach it.
func counting(n *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}
}

func sesError(status int, code, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if code != "" {
			w.Header().Set("X-Amzn-ErrorType", code)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
}

func TestSendWireFormat(t *testing.T) {
	var got map[string]any
	var method, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, path = r.Method, r.URL.Path
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"MessageId":"0100-abc"}`)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	c := testClient(t, srv.URL, time.Second, reg)

	id, err := c.Send(context.Background(), testMessage)
	require.NoError(t, err)
	require.Equal(t, "0100-abc", id)
	require.Equal(t, "POST", method)
	require.Equal(t, "/v2/email/outbound-emails", path)

	want := map[string]any{
		"FromEmailAddress":     "news@example.com",
		"ConfigurationSetName": "marketing",
		"Destination":          map[string]any{"ToAddresses": []any{"ann@example.org"}},
		"Content": map[string]any{"Template": map[string]any{
			"TemplateName": "welcome",
			"TemplateData": `{"name":"Ann"}`,
			"Headers": []any{
				map[string]any{"Name": "List-Unsubscribe", "Value": "<https://example.com/u/1>"},
				map[string]any{"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
			},
		}},
		"EmailTags": []any{
			map[string]any{"Name": "campaign", "Value": "2026-11"},
			map[string]any{"Name": "user", "Value": TagValue("u1@x")},
		},
	}
	require.Equal(t, want, got)
	require.Equal(t, 1.0, counterValue(c.m.requests.WithLabelValues("SendEmail", "ok")))
}

func TestSendErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		wantClass retry.Class
		wantCode  string
	}{
		{"429 TooManyRequests", sesError(429, "TooManyRequestsException", "Too Many Requests"), retry.Throttled, "TooManyRequestsException"},
		{"429 code with namespace", sesError(429, "TooManyRequestsException:http://internal.amazon.com/coral/com.amazon.coral.service/", "x"), retry.Throttled, "TooManyRequestsException"},
		{"400 MessageRejected", sesError(400, "MessageRejected", "Email address is not verified."), retry.Permanent, "MessageRejected"},
		{"400 daily quota", sesError(400, "LimitExceededException", "Daily message quota exceeded."), retry.Quota, "LimitExceededException"},
		{"400 body __type", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"SendingPausedException","message":"paused"}`)
		}, retry.Stop, "SendingPausedException"},
		{"400 body code", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"code":"AccountSuspendedException","message":"suspended"}`)
		}, retry.Stop, "AccountSuspendedException"},
		{"503", sesError(503, "", "Service Unavailable"), retry.Ambiguous, "HTTP 503"},
		{"500 InternalServiceError", sesError(500, "InternalServiceErrorException", "oops"), retry.Ambiguous, "InternalServiceErrorException"},
		{"503 html body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `<html>bad gateway</html>`)
		}, retry.Ambiguous, ""},
		{"200 truncated body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, `{"MessageId":"0100-`)
		}, retry.Ambiguous, ""},
		{"closes the connection after reading the request", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, retry.Ambiguous, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(counting(&n, tc.handler))
			defer srv.Close()
			reg := prometheus.NewRegistry()
			c := testClient(t, srv.URL, 2*time.Second, reg)

			_, err := c.Send(context.Background(), testMessage)
			var se *SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.wantClass, se.Class, "%v", err)
			require.True(t, se.Written)
			if tc.wantCode != "" {
				require.Equal(t, tc.wantCode, se.Code)
			}
			require.Equal(t, int64(1), n.Load(), "exactly one request, no SDK retries")
			require.Equal(t, 1.0, counterValue(c.m.requests.WithLabelValues("SendEmail", string(tc.wantClass))))
		})
	}
}

func TestSendNotWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	c := testClient(t, closedURL, time.Second, nil)
	_, err = c.Send(context.Background(), testMessage)
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.NotSent, se.Class, "%v", err)
	require.False(t, se.Written)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Send(ctx, testMessage)
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.NotSent, se.Class)
	require.ErrorIs(t, err, context.Canceled)

	_, err = c.Send(context.Background(), Message{From: "a@example.com", Template: "t"})
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.Permanent, se.Class)
	require.ErrorIs(t, err, ErrInvalidMessage)
}

func TestSendTimeoutAfterWrite(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(counting(&n, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	c := testClient(t, srv.URL, 300*time.Millisecond, nil)
	_, err := c.Send(context.Background(), testMessage)
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.Ambiguous, se.Class, "%v", err)
	require.True(t, se.Written)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Equal(t, int64(1), n.Load())
}

// TestNewFromDefaultChain builds the client the way the binaries do: the
// endpoint comes from AWS_ENDPOINT_URL_SESV2, and even with AWS_MAX_ATTEMPTS
// in the environment a 503 is sent once.
func TestNewFromDefaultChain(t *testing.T) {
	var sends, accounts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/email/account":
			accounts.Add(1)
			_, _ = io.WriteString(w, `{"SendingEnabled":true,"ProductionAccessEnabled":true,"SendQuota":{"MaxSendRate":14,"Max24HourSend":50000,"SentLast24Hours":12}}`)
		default:
			sends.Add(1)
			sesError(503, "", "unavailable")(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SESV2":      srv.URL,
		"AWS_REGION":                  "eu-west-1",
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       "SECRET",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_MAX_ATTEMPTS":            "5",
		"AWS_RETRY_MODE":              "adaptive",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	reg := prometheus.NewRegistry()
	c, err := New(context.Background(), Config{}, reg)
	require.NoError(t, err)
	require.Equal(t, DefaultTimeout, c.cfg.Timeout)

	a, err := c.Account(context.Background())
	require.NoError(t, err)
	require.Equal(t, Account{MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 12, SendingEnabled: true, ProductionAccessEnabled: true}, a)

	for range 3 {
		_, err = c.Send(context.Background(), testMessage)
		var se *SendError
		require.ErrorAs(t, err, &se)
		require.Equal(t, retry.Ambiguous, se.Class)
	}
	require.Equal(t, int64(3), sends.Load(), "one request per Send")
	require.Equal(t, 3.0, counterValue(c.m.requests.WithLabelValues("SendEmail", "ambiguous")))
	require.Equal(t, 1.0, counterValue(c.m.requests.WithLabelValues("GetAccount", "ok")))

	// A second client on the same registry shares the metrics.
	c2, err := New(context.Background(), Config{}, reg)
	require.NoError(t, err)
	require.Same(t, c.m.requests, c2.m.requests)
}

// counterValue reads a counter. (prometheus/testutil needs a module that is
// not in go.sum.)
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
