package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sendonce/sendonce/pkg/control"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/producer"
)

// campaignControl is `producer pause|resume|cancel --campaign ID`.
func campaignControl(ctx context.Context, name string, st control.State, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.ControlCommand
	if err := parse(name, args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	cl, err := kafka.NewClient(cmd.Common.KafkaClient("producer-"+name, log, nil))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.WaitReachable(tctx, cl, cmd.Common.BrokerList(), cmd.Common.StartupTimeout); err != nil {
		return err
	}
	if err := producer.RunControl(tctx, cmd, st, cl, stdout, log); err != nil {
		return fmt.Errorf("%s %s: %w", name, cmd.Campaign, err)
	}
	return nil
}
