package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

var setLogger sync.Once

// UseLogger sends go-redis's own log lines (dial failures, pool events) to
// log at warn, with component=redis, instead of the standard logger's
// unstructured stderr. go-redis has one process-wide logger: the first
// call wins.
func UseLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	setLogger.Do(func() { redis.SetLogger(slogPrintf{log.With("component", "redis")}) })
}

type slogPrintf struct{ log *slog.Logger }

func (s slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	s.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
