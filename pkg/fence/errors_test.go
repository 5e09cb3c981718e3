package fence

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// every calls each Fence method once and returns its error.
func every(f *Fence, ctx context.Context) map[string]error {
	_, claimErr := f.Claim(ctx, camp, user)
	_, _, getErr := f.Get(ctx, camp, user)
	_, reopenErr := f.Reopen(ctx, camp, user)
	_, restoreErr := f.Restore(ctx, camp, user, Record{State: Sent})
	return map[string]error{
		"claim":     claimErr,
		"arm":       f.Arm(ctx, camp, user, "t"),
		"sent":      f.MarkSent(ctx, camp, user, "t", sesID),
		"failed":    f.MarkFailed(ctx, camp, user, "t", "r"),
		"dead":      f.MarkDeadLettered(ctx, camp, user, "t", "r"),
		"expired":   f.MarkExpired(ctx, camp, user, "t"),
		"ambiguous": f.MarkAmbiguous(ctx, camp, user, "t", "r"),
		"release":   f.Release(ctx, camp, user, "t"),
		"get":       getErr,
		"reopen":    reopenErr,
		"restore":   restoreErr,
		"ping":      f.Ping(ctx),
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// blackHole accepts connections and never answers.
func blackHole(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRedisDownIsUnavailable(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for name, addr := range map[string]string{"closed port": closedPort(t), "no answer": blackHole(t)} {
		t.Run(name, func(t *testing.T) {
			rdb, err := NewClient("redis://"+addr, 0)
			require.NoError(t, err)
			t.Cleanup(func() { _ = rdb.Close() })
			f, err := New(rdb, Config{Timeout: timeout}, nil)
			require.NoError(t, err)
			for op, err := range every(f, context.Background()) {
				require.ErrorIs(t, err, ErrUnavailable, op)
			}
			// Each call is bounded by the timeout (plus slack for a
			// loaded machine), not by the client's dial or retry
			// settings.
			start := time.Now()
			err = f.Ping(context.Background())
			require.ErrorIs(t, err, ErrUnavailable)
			require.Less(t, time.Since(start), timeout+time.Second)
		})
	}
}

func TestRedisGoneMidwayIsUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{Timeout: 300 * time.Millisecond}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Ping(context.Background()))
	mr.Close()
	_, err = f.Claim(context.Background(), camp, user)
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestLogicErrorsAreNotUnavailable(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f, err := New(rdb, Config{}, nil)
	require.NoError(t, err)

	// A key of the wrong type: the server answers WRONGTYPE.
	_, err = f.Establish(ctx)
	require.NoError(t, err)
	require.NoError(t, mr.Set(f.Key(camp, user), "a string"))
	for op, err := range every(f, ctx) {
		if op == "ping" {
			continue // no read of the key
		}
		require.Error(t, err, op)
		require.False(t, errors.Is(err, ErrUnavailable), "%s: %v", op, err)
	}

	// A value this package did not write.
	mr.HSet(f.Key(camp, "u-garbage"), "u-garbage", "zzz")
	_, _, err = f.Get(ctx, camp, "u-garbage")
	require.ErrorIs(t, err, errBadValue)
	require.False(t, errors.Is(err, ErrUnavailable))
}

func TestCallerCancelIsNotUnavailable(t *testing.T) {
	rdb, err := NewClient("redis://"+blackHole(t), 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	// go-redis bounds a blocked read by its deadline, not by cancellation,
	// so the call returns at the timeout; the error is still the caller's.
	f, err := New(rdb, Config{Timeout: 300 * time.Millisecond}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = f.Claim(ctx, camp, user)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ErrUnavailable))
}

func TestUnavailableClassification(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp: connection refused"), true},
		{context.DeadlineExceeded, true},
		{redis.ErrClosed, true},
		{proto("LOADING Redis is loading the dataset in memory"), true},
		{proto("READONLY You can't write against a read only replica."), true},
		{proto("CLUSTERDOWN The cluster is down"), true},
		{proto("BUSY Redis is busy running a script"), true},
		{proto("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{proto("ERR Error running script"), false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, unavailable(tt.err), tt.err.Error())
	}
}

// proto is a server error reply, as go-redis returns it.
type proto string

func (e proto) Error() string { return string(e) }
func (proto) RedisError()     {}
