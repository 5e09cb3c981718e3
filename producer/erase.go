package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/redisconn"
)

// erase runs `producer erase --user ID [--campaign ID]`.
func erase(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.EraseCommand
	if err := parse("erase", args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	rdb, err := redisconn.New(tctx, cmd.Common.RedisConfig(0))
	if err != nil {
		return err
	}
	defer rdb.Close()
	cl, err := kafka.NewClient(cmd.Common.KafkaClient("producer-erase", log, nil), producer.EraseClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	rep, err := producer.Erase(tctx, cmd.EraseConfig, producer.EraseDeps{Client: cl, Redis: rdb, Log: log})
	if err != nil {
		if tctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("erasure not finished within --timeout %s (run it again: it is idempotent): %w", cmd.Timeout, err)
		}
		return err
	}
	if cmd.JSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return rep.WriteText(stdout)
}
