package source

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

type stubAthena struct{ err error }

func (s stubAthena) StartQueryExecution(context.Context, *athena.StartQueryExecutionInput, ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	return &athena.StartQueryExecutionOutput{}, nil
}

func (s stubAthena) GetQueryExecution(context.Context, *athena.GetQueryExecutionInput, ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	return nil, s.err
}

func (s stubAthena) GetQueryResults(context.Context, *athena.GetQueryResultsInput, ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error) {
	return &athena.GetQueryResultsOutput{}, nil
}

func TestInstrumentAthenaObservesEveryCall(t *testing.T) {
	reg := prometheus.NewRegistry()
	api := InstrumentAthena(stubAthena{err: errors.New("boom")}, reg)
	ctx := context.Background()
	_, _ = api.StartQueryExecution(ctx, nil)
	_, _ = api.GetQueryExecution(ctx, nil)
	_, _ = api.GetQueryExecution(ctx, nil)
	_, _ = api.GetQueryResults(ctx, nil)
	// Registering twice reuses the histogram.
	_ = InstrumentAthena(stubAthena{}, reg)
	n, err := testutil.GatherAndCount(reg, "sendonce_athena_request_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 3, n, "one series per operation and result")
	out, err := reg.Gather()
	require.NoError(t, err)
	var errs uint64
	for _, mf := range out {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "error" {
					errs += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	require.Equal(t, uint64(2), errs)
}
