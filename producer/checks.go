package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/awsconf"
	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/source"
)

// checkTimeout bounds the pre-flight checks of publish (each SES call has
// its own 10s timeout besides).
const checkTimeout = 2 * time.Minute

// openSource opens publish's --source (an Athena source runs its query).
func openSource(ctx context.Context, cmd *producer.PublishCommand, log *slog.Logger, reg prometheus.Registerer) (source.Reader, error) {
	athena, err := cmd.Source.Athena(cmd.Campaign)
	if err != nil {
		return nil, usageError{err}
	}
	athena.Log = log
	athena.Registerer = reg
	octx, cancel := context.WithTimeout(ctx, cmd.Source.AthenaTimeout)
	defer cancel()
	return source.Open(octx, cmd.Source.Spec, athena)
}

// checkSES runs publish's pre-flight checks against SES and returns the
// source to publish from (it replays the rows the checks read).
func checkSES(ctx context.Context, cmd *producer.PublishCommand, src source.Reader, log *slog.Logger, reg prometheus.Registerer) (source.Reader, error) {
	if cmd.SkipSESChecks {
		log.Warn("--skip-ses-checks: the template and the From identity were not checked against SES; a mistake there fails every send")
		return src, nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := awsconf.Check(ctx, "SES"); err != nil {
		return src, fmt.Errorf("%w: %w (or pass --skip-ses-checks)", producer.ErrCheckFailed, err)
	}
	api, err := ses.New(ctx, ses.Config{}, reg)
	if err != nil {
		return src, err
	}
	return producer.Check(ctx, &cmd.PublishConfig, src, api, producer.CheckOptions{SkipIdentity: cmd.SkipIdentityCheck, Log: log})
}

// dryRun validates the whole source and prints the report; it publishes
// nothing and never connects to Kafka.
func dryRun(ctx context.Context, cmd *producer.PublishCommand, log *slog.Logger, reg prometheus.Registerer, stdout io.Writer) error {
	opened, err := openSource(ctx, cmd, log, reg)
	if err != nil {
		return err
	}
	defer opened.Close()
	src, err := checkSES(ctx, cmd, opened, log, reg)
	if err != nil {
		return err
	}
	var rejects io.Writer
	if cmd.RejectsFile != "" {
		f, err := producer.CreateRejectsFile(cmd.RejectsFile)
		if err != nil {
			return err
		}
		defer f.Close()
		rejects = f
	}
	rep, err := producer.DryRun(ctx, cmd.PublishConfig, src, rejects, nil)
	if rep.Campaign != "" {
		_ = rep.WriteText(stdout)
	}
	return err
}
