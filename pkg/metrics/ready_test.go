package metrics

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadyzIsCachedAndGeneric: /readyz asks the check at most once per
// ReadyCacheTTL, answers only "ready" / "not ready", and logs the reason
// once per change.
func TestReadyzIsCachedAndGeneric(t *testing.T) {
	calls := 0
	var fail error = errors.New("redis: dial tcp 10.0.0.7:6379: connection refused (user admin)")
	var logs bytes.Buffer
	rc := newReadyCheck(func() error { calls++; return fail }, slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	rc.now = func() time.Time { return now }
	get := func() (int, string) {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code, w.Body.String()
	}

	for range 50 {
		code, body := get()
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "not ready\n", body)
	}
	require.Equal(t, 1, calls, "50 probes within the TTL ask once")
	require.Contains(t, logs.String(), "connection refused", "the reason is in the log")

	now = now.Add(ReadyCacheTTL)
	get()
	require.Equal(t, 2, calls)
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("not ready")), "the same reason is logged once")

	fail = nil
	now = now.Add(ReadyCacheTTL - time.Millisecond)
	code, _ := get()
	require.Equal(t, http.StatusServiceUnavailable, code, "still the cached answer")
	now = now.Add(time.Millisecond)
	code, body := get()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready\n", body)
	require.Contains(t, logs.String(), "ready again")
}

func TestServerTimeouts(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", NewRegistry(), nil, nil)
	require.NoError(t, err)
	defer srv.ln.Close()
	s := srv.srv
	require.Equal(t, ReadHeaderTimeout, s.ReadHeaderTimeout)
	require.Positive(t, s.ReadTimeout)
	require.Positive(t, s.WriteTimeout)
	require.Positive(t, s.IdleTimeout)
	require.Positive(t, s.MaxHeaderBytes)
}
