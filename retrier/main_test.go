package main

import (
	"bytes"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
		is   error
	}{
		{name: "no command", err: "missing command"},
		{name: "unknown", args: []string{"retry"}, err: `unknown command "retry"`},
		{name: "help", args: []string{"help"}},
		{name: "run help", args: []string{"run", "--help"}, is: flag.ErrHelp},
		{name: "redrive help", args: []string{"redrive", "--help"}, is: flag.ErrHelp},
		{name: "run bad attempts", args: []string{"run", "--max-attempts", "0"}, is: retry.ErrMaxAttempts},
		{name: "run bad tiers", args: []string{"run", "--retry-tiers", "1m,30s"}, is: retry.ErrTierOrder},
		{name: "redrive bad redis", args: []string{"redrive", "--redis-url", "http://x"}, err: "invalid Redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tt.args, &out, &errOut)
			switch {
			case tt.is != nil:
				require.ErrorIs(t, err, tt.is)
			case tt.err != "":
				require.ErrorContains(t, err, tt.err)
			default:
				require.NoError(t, err)
			}
		})
	}
}
