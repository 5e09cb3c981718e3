package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEveryNameStartsWithSendonce(t *testing.T) {
	mfs, err := NewRegistry().Gather()
	require.NoError(t, err)
	require.NotEmpty(t, mfs)
	for _, mf := range mfs {
		require.True(t, strings.HasPrefix(mf.GetName(), "sendonce_"), mf.GetName())
	}
}

func TestEndpoints(t *testing.T) {
	var notReady error = errors.New("redis: connection refused")
	srv, err := Listen("127.0.0.1:0", NewRegistry(), func() error { return notReady }, nil)
	require.NoError(t, err)
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	var clock atomic.Int64 // the readiness cache's clock, in ns
	clock.Store(time.Now().UnixNano())
	srv.ready.now = func() time.Time { return time.Unix(0, clock.Load()) }
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not ready\n", body, "the reason goes to the log, not to whoever asks")
	notReady = nil
	clock.Add(int64(ReadyCacheTTL))
	code, _ = get("/readyz")
	require.Equal(t, http.StatusOK, code)
	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "sendonce_go_goroutines")
}
