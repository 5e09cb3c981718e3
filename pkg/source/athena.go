package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/awsconf"
)

// AthenaAPI is the part of the Athena client the reader uses;
// *athena.Client has it.
type AthenaAPI interface {
	StartQueryExecution(ctx context.Context, in *athena.StartQueryExecutionInput, opts ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
	GetQueryExecution(ctx context.Context, in *athena.GetQueryExecutionInput, opts ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
	GetQueryResults(ctx context.Context, in *athena.GetQueryResultsInput, opts ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error)
}

// AthenaConfig says which query to run and how to wait for it.
type AthenaConfig struct {
	// Campaign and Query (with Database) derive the ClientRequestToken, so
	// that a rerun within Athena's idempotency window reuses the execution
	// instead of scanning (and paying) again.
	Campaign       string
	Query          string
	Database       string
	Workgroup      string // empty: Athena's "primary"
	OutputLocation string // s3://…; empty: the workgroup's setting
	// Client is the Athena client; nil builds one from the AWS SDK's
	// default chain (AWS_REGION, credentials, AWS_ENDPOINT_URL_ATHENA).
	Client AthenaAPI
	// PollInitial and PollMax bound the backoff between GetQueryExecution
	// calls (defaults 500ms and 10s).
	PollInitial, PollMax time.Duration
	// CallTimeout bounds each Athena API call (default 30s).
	CallTimeout time.Duration
	// PageSize is the MaxResults of GetQueryResults (default and maximum 1000).
	PageSize int32
	// Read says how the result is read: the CSV file Athena wrote to S3,
	// GetQueryResults pages, or S3 falling back to pages (empty: ReadAuto).
	Read ReadMode
	// S3 reads the result file; nil builds a client from the AWS SDK's
	// default chain (AWS_ENDPOINT_URL_S3) when it is needed.
	S3 S3API
	// S3Parallel is the number of ranged GETs that run ahead of the parser
	// (--athena-s3-parallel); 1 or less streams one GET.
	S3Parallel int
	// S3ChunkSize is the size of each ranged GET when S3Parallel > 1
	// (default 8 MiB).
	S3ChunkSize int64
	// After waits; nil is time.After. Tests make it immediate.
	After func(time.Duration) <-chan time.Time
	Log   *slog.Logger
	// Registerer, when set, receives the latency histogram of every
	// Athena call (see InstrumentAthena).
	Registerer prometheus.Registerer
}

func (c *AthenaConfig) defaults() {
	if c.PollInitial <= 0 {
		c.PollInitial = 500 * time.Millisecond
	}
	if c.PollMax < c.PollInitial {
		c.PollMax = max(10*time.Second, c.PollInitial)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.PageSize <= 0 || c.PageSize > 1000 {
		c.PageSize = 1000
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Read == "" {
		c.Read = ReadAuto
	}
	if c.S3ChunkSize <= 0 {
		c.S3ChunkSize = 8 << 20
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// RequestToken is the ClientRequestToken of a campaign's query: the hex
// SHA-256 of campaign, database and query (64 characters; Athena accepts 32
// to 128). Changing the query (even adding a comment) gives a new token.
func RequestToken(campaign, database, query string) string {
	h := sha256.New()
	for _, s := range []string{"sendonce/v1", campaign, database, query} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// athenaReader pages through the results of a query that succeeded.
type athenaReader struct {
	cfg   AthenaConfig
	id    string
	cols  *columns
	rows  []types.Row
	next  *string // NextToken of the page after rows; nil on the last
	num   int
	vals  []string
	nulls []bool
}

// NewAthena starts the query (or reuses the execution of the same token),
// waits until it succeeds and opens its result: the CSV file Athena wrote to
// S3 (streamed), or the first page of GetQueryResults (cfg.Read), so that a
// failed query or missing columns are reported here.
func NewAthena(ctx context.Context, cfg AthenaConfig) (Reader, error) {
	cfg.defaults()
	if cfg.Query == "" {
		return nil, fmt.Errorf("%w: athena needs a query (--athena-query or --athena-query-file)", ErrBadSpec)
	}
	if _, err := ParseReadMode(string(cfg.Read)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if cfg.Client == nil {
		awsCfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(awsconf.Logger(cfg.Log)))
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration for Athena: %w", err)
		}
		cfg.Client = athena.NewFromConfig(awsCfg)
	}
	if cfg.Registerer != nil {
		cfg.Client = InstrumentAthena(cfg.Client, cfg.Registerer)
	}
	r := &athenaReader{cfg: cfg}
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	qe, err := r.wait(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Read != ReadAPI {
		s3r, err := r.openS3(ctx, qe)
		switch {
		case err == nil:
			return s3r, nil
		case cfg.Read == ReadAuto && errors.Is(err, ErrS3Unreadable):
			cfg.Log.Warn("paging through GetQueryResults instead of reading the result file from S3 (slower: 1,000 rows per call)",
				"query_execution_id", r.id, "reason", err.Error())
		default:
			return nil, err
		}
	}
	if err := r.page(ctx, nil); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *athenaReader) start(ctx context.Context) error {
	in := &athena.StartQueryExecutionInput{
		QueryString:        aws.String(r.cfg.Query),
		ClientRequestToken: aws.String(RequestToken(r.cfg.Campaign, r.cfg.Database, r.cfg.Query)),
	}
	if r.cfg.Database != "" {
		in.QueryExecutionContext = &types.QueryExecutionContext{Database: aws.String(r.cfg.Database)}
	}
	if r.cfg.Workgroup != "" {
		in.WorkGroup = aws.String(r.cfg.Workgroup)
	}
	if r.cfg.OutputLocation != "" {
		in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(r.cfg.OutputLocation)}
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	out, err := r.cfg.Client.StartQueryExecution(cctx, in)
	if err != nil {
		return fmt.Errorf("starting the Athena query (check AWS credentials, region, --athena-database and --athena-output): %w", err)
	}
	r.id = aws.ToString(out.QueryExecutionId)
	r.cfg.Log.Info("athena query started", "query_execution_id", r.id, "workgroup", r.cfg.Workgroup, "database", r.cfg.Database)
	return nil
}

// wait polls until the query succeeds and returns its execution (with the
// result location).
func (r *athenaReader) wait(ctx context.Context) (*types.QueryExecution, error) {
	delay := r.cfg.PollInitial
	started := time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		out, err := r.cfg.Client.GetQueryExecution(cctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(r.id)})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("polling Athena query %s: %w", r.id, err)
		}
		var st types.QueryExecutionStatus
		if out.QueryExecution != nil && out.QueryExecution.Status != nil {
			st = *out.QueryExecution.Status
		}
		switch st.State {
		case types.QueryExecutionStateSucceeded:
			r.cfg.Log.Info("athena query succeeded", "query_execution_id", r.id, "waited", time.Since(started).Round(time.Millisecond))
			return out.QueryExecution, nil
		case types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
			return nil, fmt.Errorf("%w: query %s is %s: %s (a rerun of the same campaign and query reuses this execution while Athena remembers its token; change the query, e.g. add a comment, to run it anew)",
				ErrQueryFailed, r.id, st.State, aws.ToString(st.StateChangeReason))
		}
		r.cfg.Log.Debug("waiting for athena query", "query_execution_id", r.id, "state", st.State, "next_poll", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for Athena query %s: %w", r.id, ctx.Err())
		case <-r.cfg.After(delay):
		}
		delay = min(delay*2, r.cfg.PollMax)
	}
}

// page fetches the page at token (nil: the first). The first row of the
// first page is the header; columns are mapped by the result metadata.
func (r *athenaReader) page(ctx context.Context, token *string) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	out, err := r.cfg.Client.GetQueryResults(cctx, &athena.GetQueryResultsInput{
		QueryExecutionId: aws.String(r.id),
		MaxResults:       aws.Int32(r.cfg.PageSize),
		NextToken:        token,
	})
	if err != nil {
		return fmt.Errorf("reading results of Athena query %s after row %d: %w", r.id, r.num, err)
	}
	if out.ResultSet == nil {
		return fmt.Errorf("reading results of Athena query %s: no result set", r.id)
	}
	r.rows = out.ResultSet.Rows
	r.next = out.NextToken
	if token == nil {
		var names []string
		if md := out.ResultSet.ResultSetMetadata; md != nil {
			for _, ci := range md.ColumnInfo {
				names = append(names, aws.ToString(ci.Name))
			}
		}
		cols, err := newColumns(names)
		if err != nil {
			return fmt.Errorf("result of Athena query %s: %w", r.id, err)
		}
		r.cols = cols
		r.vals = make([]string, cols.n)
		r.nulls = make([]bool, cols.n)
		if len(r.rows) > 0 {
			r.rows = r.rows[1:] // the header row
		}
	}
	return nil
}

func (r *athenaReader) Next(ctx context.Context) (Row, error) {
	for len(r.rows) == 0 {
		if r.next == nil {
			return Row{}, io.EOF
		}
		if err := r.page(ctx, r.next); err != nil {
			return Row{}, err
		}
	}
	data := r.rows[0].Data
	r.rows[0] = types.Row{} // let the page's strings go as rows are handed out
	r.rows = r.rows[1:]
	r.num++
	if len(data) != r.cols.n {
		return Row{Num: r.num, Err: fmt.Errorf("result row %d has %d columns, the metadata %d", r.num, len(data), r.cols.n)}, nil
	}
	for i, d := range data {
		r.vals[i], r.nulls[i] = aws.ToString(d.VarCharValue), d.VarCharValue == nil
	}
	return Row{
		Num:    r.num,
		UserID: r.vals[r.cols.userID],
		Email:  r.vals[r.cols.email],
		Data:   r.cols.data(r.vals, r.nulls),
	}, nil
}

func (r *athenaReader) Close() error { return nil }

// QueryExecutionID is the id of the execution being read (for logs and
// tests).
func (r *athenaReader) QueryExecutionID() string { return r.id }
