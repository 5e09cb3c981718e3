package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	sconfig "github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/fence"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/redisconn"
)

// status runs `producer status --campaign ID [--json] [--watch] [--user USER]`.
func status(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var (
		cmd  producer.StatusCommand
		view producer.StatusViewFlags
	)
	register := func(fs *flag.FlagSet) { cmd.RegisterFlags(fs); view.RegisterFlags(fs) }
	validate := func() error { return errors.Join(cmd.Validate(), view.Validate()) }
	if err := parse("status", args, stderr, lookup, register, validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	cl, err := kafka.NewClient(cmd.Common.KafkaClient("producer-status", log, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	topics := kafka.Topics{Prefix: cmd.Common.TopicPrefix}
	timeoutErr := func(tctx context.Context, err error) error {
		if err != nil && tctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("could not read the status from Kafka at %s within %s (check --brokers / KAFKA_BROKERS): %w", cmd.Common.Brokers, cmd.Timeout, err)
		}
		return err
	}

	if view.User != "" {
		tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
		f, closeFence := userFence(tctx, cmd.Common, log)
		defer closeFence()
		rep, err := producer.UserStatus(tctx, cl, topics, f, cmd.Campaign, view.User)
		if err != nil {
			return timeoutErr(tctx, err)
		}
		if cmd.JSON {
			return rep.WriteJSON(stdout)
		}
		return rep.WriteText(stdout)
	}

	read := func(ctx context.Context, now time.Time) (producer.CampaignReport, error) {
		tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
		rep, err := producer.Progress(tctx, cl, topics, cmd.Campaign, now)
		return rep, timeoutErr(tctx, err)
	}
	if view.Watch {
		wcfg := producer.WatchConfig{Interval: view.Interval, Terminal: sconfig.IsTerminal(stdout) && !cmd.JSON}
		if cmd.JSON {
			// One JSON object per read: a stream a script can follow.
			return producer.Watch(ctx, wcfg, io.Discard, func(ctx context.Context, now time.Time) (producer.CampaignReport, error) {
				rep, err := read(ctx, now)
				if err == nil {
					err = rep.WriteJSON(stdout)
				}
				return rep, err
			})
		}
		return producer.Watch(ctx, wcfg, stdout, read)
	}
	rep, err := read(ctx, time.Now())
	if err != nil {
		return err
	}
	if cmd.JSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// userFence connects to the fence for a user lookup. Redis being
// unreachable does not fail the lookup: the ledger still answers, and the
// report says why the fence is missing.
func userFence(ctx context.Context, common sconfig.Common, log *slog.Logger) (producer.FenceReader, func()) {
	rcfg := common.RedisConfig(0)
	rdb, err := redisconn.New(ctx, rcfg)
	if err != nil {
		log.Warn("fence not read: the lookup shows the ledger only", "err", err)
		return fenceError{err}, func() {}
	}
	f, err := fence.New(rdb, fence.Config{Prefix: common.TopicPrefix, Timeout: common.RedisTimeout}, nil)
	if err != nil {
		rdb.Close()
		return fenceError{err}, func() {}
	}
	return f, func() { rdb.Close() }
}

// fenceError is a fence that could not be reached.
type fenceError struct{ err error }

func (f fenceError) Get(context.Context, string, string) (fence.Record, bool, error) {
	return fence.Record{}, false, f.err
}

// report runs `producer report --campaign ID --format csv|jsonl`: rows on
// stdout, a summary line on stderr.
func report(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.ReportCommand
	if err := parse("report", args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	cl, err := kafka.NewClient(cmd.Common.KafkaClient("producer-report", log, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	sum, err := producer.Report(tctx, cl, cmd.Topics(), cmd.Campaign, cmd.Format, stdout)
	if err != nil {
		if tctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("could not read the report from Kafka at %s within %s (check --brokers / KAFKA_BROKERS, or raise --timeout): %w", cmd.Common.Brokers, cmd.Timeout, err)
		}
		return err
	}
	sum.WriteText(stderr)
	return nil
}
