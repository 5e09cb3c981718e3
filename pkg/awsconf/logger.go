package awsconf

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/smithy-go/logging"
)

// Logger sends the AWS SDK's own log lines (its warnings: checksum,
// deprecation, retries; and what ClientLogMode asks for, at debug) through
// log, in the service's format, with component=aws. A nil log is
// slog.Default(). Give it with config.WithLogger(awsconf.Logger(log)).
func Logger(log *slog.Logger) logging.Logger {
	return slogLogger{log: log}
}

type slogLogger struct{ log *slog.Logger }

// Logf implements logging.Logger.
func (l slogLogger) Logf(c logging.Classification, format string, v ...any) {
	l.logf(context.Background(), c, format, v...)
}

// WithContext implements logging.ContextLogger: the SDK passes the
// request's context.
func (l slogLogger) WithContext(ctx context.Context) logging.Logger {
	return ctxLogger{l: l, ctx: ctx}
}

func (l slogLogger) logf(ctx context.Context, c logging.Classification, format string, v ...any) {
	log := l.log
	if log == nil {
		log = slog.Default()
	}
	lvl := slog.LevelDebug
	if c == logging.Warn {
		lvl = slog.LevelWarn
	}
	if !log.Enabled(ctx, lvl) {
		return
	}
	log.Log(ctx, lvl, fmt.Sprintf(format, v...), "component", "aws")
}

type ctxLogger struct {
	l   slogLogger
	ctx context.Context
}

func (c ctxLogger) Logf(cl logging.Classification, format string, v ...any) {
	c.l.logf(c.ctx, cl, format, v...)
}
