package main

import (
	"context"
	"io"

	"github.com/sendonce/sendonce/pkg/awsconf"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/source"
)

// testSend renders one user's email and sends it to --to, around the fence.
func testSend(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	var cmd producer.TestSendCommand
	if err := parse("test-send", args, stderr, lookup, cmd.RegisterFlags, cmd.Validate); err != nil {
		return err
	}
	log, err := cmd.Common.Logger(stderr)
	if err != nil {
		return usageError{err}
	}
	tctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	if err := awsconf.Check(tctx, "SES"); err != nil {
		return err
	}
	api, err := ses.New(tctx, ses.Config{Timeout: cmd.SESTimeout}, nil)
	if err != nil {
		return err
	}
	athena, err := cmd.Source.Athena(cmd.Campaign)
	if err != nil {
		return usageError{err}
	}
	athena.Log = log
	src, err := source.Open(tctx, cmd.Source.Spec, athena)
	if err != nil {
		return err
	}
	defer src.Close()
	res, err := producer.TestSend(tctx, cmd.PublishConfig, src, cmd.User, cmd.To, api)
	if err != nil {
		return err
	}
	return res.WriteText(stdout)
}
