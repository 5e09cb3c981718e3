package kafka

import (
	"context"
	"log/slog"
	"time"

	"github.com/sendonce/sendonce/pkg/loglimit"
)

// quiet passes franz-go's warnings and errors through at most once per
// message every loglimit.Every, adding how many were held back: a broker
// outage makes the client repeat "unable to open connection to broker"
// for every retry of every connection, which would flood the log.
type quiet struct {
	slog.Handler
	limit *loglimit.Limiter
	now   func() time.Time
}

func newQuiet(h slog.Handler) quiet {
	return quiet{Handler: h, limit: &loglimit.Limiter{}, now: time.Now}
}

func (h quiet) Handle(ctx context.Context, r slog.Record) error {
	ok, held := h.limit.Allow(r.Level.String()+" "+r.Message, h.now())
	if !ok {
		return nil
	}
	if held > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("similar_lines_suppressed", held))
	}
	return h.Handler.Handle(ctx, r)
}

func (h quiet) WithAttrs(as []slog.Attr) slog.Handler {
	return quiet{Handler: h.Handler.WithAttrs(as), limit: h.limit, now: h.now}
}

func (h quiet) WithGroup(name string) slog.Handler {
	return quiet{Handler: h.Handler.WithGroup(name), limit: h.limit, now: h.now}
}
