package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/sendonce/sendonce/pkg/awsconf"
)

// ReadMode says how the result of an Athena query is read.
type ReadMode string

// Read modes (--athena-read).
const (
	// ReadAuto streams the result file from S3 and falls back to paging
	// GetQueryResults, saying so in one log line, when S3 denies the object
	// or the results are encrypted in a way only Athena can read.
	ReadAuto ReadMode = "auto"
	// ReadS3 streams the result file from S3 and fails when it cannot.
	ReadS3 ReadMode = "s3"
	// ReadAPI pages through GetQueryResults (1,000 rows per call).
	ReadAPI ReadMode = "api"
)

// ParseReadMode checks a --athena-read value; empty is auto.
func ParseReadMode(s string) (ReadMode, error) {
	switch m := ReadMode(s); m {
	case "":
		return ReadAuto, nil
	case ReadAuto, ReadS3, ReadAPI:
		return m, nil
	}
	return "", fmt.Errorf("--athena-read must be s3, api or auto (got %q)", s)
}

// ErrS3Unreadable is returned (with --athena-read s3) when the query's
// result file cannot be read from S3: access denied (s3:GetObject on the
// results prefix, or kms:Decrypt on an SSE-KMS key), or results that are
// client-side encrypted (CSE_KMS), which only Athena can decrypt. With
// --athena-read auto the reader pages through GetQueryResults instead.
var ErrS3Unreadable = errors.New("cannot read the Athena result file from S3")

// NewS3Client builds the S3 client from the AWS SDK's default chain (region,
// credentials, AWS_ENDPOINT_URL_S3). With an IP-address endpoint such as
// http://127.0.0.1:35000 the SDK's endpoint rules use path-style requests by
// themselves.
func NewS3Client(ctx context.Context) (*s3.Client, error) {
	return NewS3ClientWithLogger(ctx, nil)
}

// NewS3ClientWithLogger is NewS3Client with the SDK's own log lines going
// through log (component=aws; nil: slog.Default()).
func NewS3ClientWithLogger(ctx context.Context, log *slog.Logger) (*s3.Client, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(awsconf.Logger(log)))
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration for S3: %w", err)
	}
	// A response without a checksum (ranged GETs, emulators) is fine: TLS
	// and the parser guard the bytes; do not let the SDK print a line each.
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true }), nil
}

// athenaS3Reader reads the CSV file Athena wrote for the query.
type athenaS3Reader struct {
	id      string
	loc     string
	obj     *s3Object
	csv     *athenaCSV
	cols    *columns
	num     int
	started time.Time
	cfg     *AthenaConfig
	done    bool
}

// openS3 opens the result file of the succeeded execution qe and reads its
// header. Errors wrapping ErrS3Unreadable mean that paging may still work.
func (r *athenaReader) openS3(ctx context.Context, qe *types.QueryExecution) (Reader, error) {
	var loc string
	var enc *types.EncryptionConfiguration
	if qe != nil && qe.ResultConfiguration != nil {
		loc = aws.ToString(qe.ResultConfiguration.OutputLocation)
		enc = qe.ResultConfiguration.EncryptionConfiguration
	}
	if loc == "" {
		return nil, fmt.Errorf("%w: Athena gave no result location for query %s", ErrS3Unreadable, r.id)
	}
	if enc != nil && enc.EncryptionOption == types.EncryptionOptionCseKms {
		return nil, fmt.Errorf("%w: the workgroup encrypts results client-side (CSE_KMS), which only Athena can decrypt (%s)", ErrS3Unreadable, loc)
	}
	bucket, key, err := parseS3URL(loc)
	if err != nil {
		return nil, fmt.Errorf("result location of Athena query %s: %w", r.id, err)
	}
	if r.cfg.S3 == nil {
		c, err := NewS3ClientWithLogger(ctx, r.cfg.Log)
		if err != nil {
			return nil, err
		}
		r.cfg.S3 = c
	}
	api := r.cfg.S3
	if r.cfg.Registerer != nil {
		api = InstrumentS3(api, r.cfg.Registerer)
	}
	obj, err := openS3Object(ctx, api, bucket, key, r.cfg.S3Parallel, r.cfg.S3ChunkSize, r.cfg.CallTimeout, r.cfg.Log)
	switch {
	case isDenied(err):
		return nil, fmt.Errorf("%w: %s: %w (give the role s3:GetObject on the results prefix, and kms:Decrypt on the key if the bucket uses SSE-KMS)", ErrS3Unreadable, loc, err)
	case hasCode(err, "NoSuchKey", "NoSuchBucket"):
		return nil, fmt.Errorf("the result file %s of Athena query %s is gone (a lifecycle rule on the results bucket?): %w; change the query (e.g. add a comment) to run it anew", loc, r.id, err)
	case err != nil:
		return nil, fmt.Errorf("reading the result file %s of Athena query %s: %w", loc, r.id, err)
	}
	s := &athenaS3Reader{id: r.id, loc: loc, obj: obj, csv: newAthenaCSV(obj), started: time.Now(), cfg: &r.cfg}
	header, _, err := s.csv.read()
	if errors.Is(err, io.EOF) {
		obj.close()
		return nil, fmt.Errorf("%w: the result file %s of Athena query %s is empty (no header row)", ErrMissingColumn, loc, r.id)
	}
	if err == nil {
		s.cols, err = newColumns(header)
	}
	if err != nil {
		obj.close()
		return nil, fmt.Errorf("result of Athena query %s (%s): %w", r.id, loc, err)
	}
	r.cfg.Log.Info("reading the athena result from s3", "query_execution_id", r.id, "object", loc,
		"mb", mb(obj.size), "parallel_gets", max(r.cfg.S3Parallel, 1))
	return s, nil
}

func (s *athenaS3Reader) Next(ctx context.Context) (Row, error) {
	if err := ctx.Err(); err != nil {
		return Row{}, err
	}
	vals, nulls, err := s.csv.read()
	if errors.Is(err, io.EOF) {
		if !s.done {
			s.done = true
			el := time.Since(s.started)
			s.cfg.Log.Info("read the athena result from s3", "query_execution_id", s.id, "rows", s.num,
				"mb", mb(s.obj.size), "elapsed", el.Round(time.Millisecond).String(), "mb_per_second", mb(int64(float64(s.obj.size)/max(el.Seconds(), 1e-3))))
		}
		return Row{}, io.EOF
	}
	if errors.Is(err, errCSVSyntax) {
		s.num++
		return Row{Num: s.num, Err: fmt.Errorf("result row %d: %w", s.num, err)}, nil
	}
	if err != nil {
		return Row{}, fmt.Errorf("reading the result of Athena query %s from %s after row %d: %w", s.id, s.loc, s.num, err)
	}
	s.num++
	if len(vals) != s.cols.n {
		return Row{Num: s.num, Err: fmt.Errorf("result row %d has %d columns, the header %d", s.num, len(vals), s.cols.n)}, nil
	}
	return Row{
		Num:    s.num,
		UserID: vals[s.cols.userID],
		Email:  vals[s.cols.email],
		Data:   s.cols.data(vals, nulls),
	}, nil
}

func (s *athenaS3Reader) Close() error {
	s.obj.close()
	return nil
}

// Progress is bytes of the result file read, of its size.
func (s *athenaS3Reader) Progress() (done, total int64) { return s.obj.progress() }

// QueryExecutionID is the id of the execution being read.
func (s *athenaS3Reader) QueryExecutionID() string { return s.id }

// ResultLocation is the s3:// location of the file being read.
func (s *athenaS3Reader) ResultLocation() string { return s.loc }

// isDenied reports whether S3 refused the object: permissions
// (AccessDenied, HTTP 403), the KMS key (KMS.*), a customer-provided key
// (SSE-C) we do not have, or an archived object.
func isDenied(err error) bool {
	if err == nil {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case code == "AccessDenied", code == "AllAccessDisabled", code == "InvalidObjectState", strings.HasPrefix(code, "KMS."):
			return true
		case code == "InvalidRequest" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "encrypt"):
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 403
}

// hasCode reports whether err is an API error with one of codes.
func hasCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func mb(b int64) float64 { return float64(b*10/(1<<20)) / 10 }
