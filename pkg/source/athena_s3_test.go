package source

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// These tests read result files from a real S3 API: moto, which
// scripts/services.sh starts and exports as AWS_ENDPOINT_URL_S3. moto's own
// Athena finishes every query at once and writes no result file, so the
// in-repo Athena fake answers the Athena calls (and pages the same rows
// through GetQueryResults), and each test writes the CSV to the result
// location first, as Athena would.

// s3Results creates a bucket of its own on the S3 endpoint, through a
// client built from the SDK's default chain (AWS_ENDPOINT_URL_S3, an IP
// address: the SDK uses path-style requests by itself).
func s3Results(t *testing.T) (*s3.Client, string) {
	t.Helper()
	testenv.S3Endpoint(t)
	ctx := context.Background()
	c, err := NewS3Client(ctx)
	require.NoError(t, err)
	bucket := strings.ToLower(testenv.Name(t, "r"))
	if len(bucket) > 63 {
		bucket = bucket[:63]
	}
	bucket = strings.TrimRight(bucket, "-")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err, "creating bucket %s on %s", bucket, testenv.S3Endpoint(t))
	t.Cleanup(func() {
		ctx := context.Background()
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err == nil {
			for _, o := range out.Contents {
				_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	return c, bucket
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err)
}

// athenaFile writes columns and rows as Athena writes a result file: every
// value quoted, quotes doubled, NULL as nothing, LF after each row.
func athenaFile(columns []string, rows [][]*string) string {
	var b strings.Builder
	line := func(vals []*string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if v != nil {
				b.WriteString(`"` + strings.ReplaceAll(*v, `"`, `""`) + `"`)
			}
		}
		b.WriteByte('\n')
	}
	hdr := make([]*string, len(columns))
	for i := range columns {
		hdr[i] = &columns[i]
	}
	line(hdr)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// edgeRows are the values that trip CSV readers, one case per row.
func edgeRows() [][]*string {
	s := aws.String
	return [][]*string{
		{s("u1"), s("a@example.com"), s("plain"), s("x")},
		{s("u2"), s("b@example.com"), s("Smith, Jane"), s("comma")},
		{s("u3"), s("c@example.com"), s(`say "hi" ""twice""`), s(`"`)},
		{s("u4"), s("d@example.com"), s("line1\r\nline2"), s("CRLF inside")},
		{s("u5"), s("e@example.com"), s("line1\nline2\n"), s("LF inside")},
		{s("u6"), s("f@example.com"), s(""), nil},          // empty string, then NULL
		{s("u7"), s("g@example.com"), nil, s("")},          // NULL, then empty string
		{nil, s("h@example.com"), s("no id"), nil},         // NULL user_id: rejected by the producer
		{s("u9"), s(""), s("empty email"), s("x")},         // rejected by the producer
		{s("u10"), s("zoë@例え.jp"), s("Zoë 🙂"), s("UTF-8")}, // UTF-8
		{s("u1"), s("a2@example.com"), s("again"), s("a duplicate user")},
	}
}

var edgeColumns = []string{"user_id", "email", "name", "note"}

// TestAthenaS3MatchesGetQueryResults reads the same result from S3 and
// through GetQueryResults: every row, value, NULL and per-row error must be
// the same, so that jobs and rejects do not depend on the path.
func TestAthenaS3MatchesGetQueryResults(t *testing.T) {
	many := edgeRows()
	for i := range 20_000 {
		many = append(many, []*string{aws.String(fmt.Sprintf("m%d", i)), aws.String(fmt.Sprintf("m%d@example.com", i)), aws.String(strings.Repeat("n", i%50)), nil})
	}
	tests := []struct {
		name     string
		rows     [][]*string
		bom      bool
		parallel int
		chunk    int64
	}{
		{name: "edge cases, one GET", rows: edgeRows(), parallel: 1},
		{name: "edge cases behind a byte order mark", rows: edgeRows(), bom: true, parallel: 1},
		{name: "edge cases, 7-byte ranged GETs, 3 at a time", rows: edgeRows(), parallel: 3, chunk: 7},
		{name: "20k rows, 64 KiB ranged GETs, 4 at a time", rows: many, parallel: 4, chunk: 64 << 10},
		{name: "20k rows, one GET", rows: many, parallel: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, bucket := s3Results(t)
			f := &fakeAthena{states: []string{"RUNNING", "SUCCEEDED"}, columns: edgeColumns, rows: tt.rows, pageSize: 1000, output: "s3://" + bucket + "/athena/"}
			body := athenaFile(edgeColumns, tt.rows)
			if tt.bom {
				body = "\uFEFF" + body
			}
			putObject(t, c, bucket, "athena/qe-1.csv", body)
			cfg := AthenaConfig{Campaign: "c", Query: "SELECT * FROM users", Client: f.client(t), After: (&instant{}).after, S3Parallel: tt.parallel, S3ChunkSize: tt.chunk}

			cfg.Read = ReadAPI
			r, err := NewAthena(context.Background(), cfg)
			require.NoError(t, err)
			viaAPI := readAll(t, r)
			require.Len(t, viaAPI, len(tt.rows))
			pages := f.pages
			require.Positive(t, pages)

			cfg.Read = ReadS3
			r, err = NewAthena(context.Background(), cfg)
			require.NoError(t, err)
			require.Equal(t, "s3://"+bucket+"/athena/qe-1.csv", r.(*athenaS3Reader).ResultLocation())
			viaS3 := readAll(t, r)
			done, total := r.(Progresser).Progress()
			require.NoError(t, r.Close())
			require.Equal(t, pages, f.pages, "the S3 path calls no GetQueryResults")
			require.Equal(t, int64(len(body)), total)
			require.Equal(t, total, done)
			require.Len(t, viaS3, len(viaAPI))
			for i := range viaAPI { // row by row: a diff of 20k rows takes minutes
				if !reflect.DeepEqual(viaAPI[i], viaS3[i]) {
					require.Equal(t, viaAPI[i], viaS3[i], "row %d", i+1)
				}
			}

			// And the values are what Athena stored, not just equal.
			byID := map[string]Row{}
			for _, row := range viaS3[:len(edgeRows())] {
				require.NoError(t, row.Err)
				if _, ok := byID[row.UserID]; !ok {
					byID[row.UserID] = row
				}
			}
			require.JSONEq(t, `{"name":"Smith, Jane","note":"comma"}`, string(byID["u2"].Data))
			require.JSONEq(t, `{"name":"say \"hi\" \"\"twice\"\"","note":"\""}`, string(byID["u3"].Data))
			require.JSONEq(t, `{"name":"line1\r\nline2","note":"CRLF inside"}`, string(byID["u4"].Data))
			require.JSONEq(t, `{"name":"line1\nline2\n","note":"LF inside"}`, string(byID["u5"].Data))
			require.JSONEq(t, `{"name":""}`, string(byID["u6"].Data), "an empty string is kept, a NULL left out")
			require.JSONEq(t, `{"note":""}`, string(byID["u7"].Data))
			require.Equal(t, "h@example.com", byID[""].Email, "a NULL user_id is empty: the producer rejects it")
			require.Equal(t, "", byID["u9"].Email)
			require.Equal(t, "zoë@例え.jp", byID["u10"].Email)
			require.Equal(t, "a@example.com", byID["u1"].Email)
			require.Equal(t, "u1", viaS3[10].UserID, "duplicates are the producer's business")
		})
	}
}

// denyingS3 answers every request as S3 does without s3:GetObject (or
// without kms:Decrypt on an SSE-KMS key). moto does not enforce IAM, so
// this one answer comes from a stand-in; it counts the requests.
func denyingS3(t *testing.T, message string) (*s3.Client, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>%s</Message><RequestId>r1</RequestId></Error>`, message)
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}), &n
}

// TestAthenaS3Fallback: with --athena-read auto, a denied result file or
// client-side encrypted results are paged through GetQueryResults instead,
// with one log line saying so; with s3 that is an error; a missing file is
// an error either way (paging would read the same missing file).
func TestAthenaS3Fallback(t *testing.T) {
	c, bucket := s3Results(t)
	rows := edgeRows()
	putObject(t, c, bucket, "enc/qe-1.csv", athenaFile(edgeColumns, rows))
	putObject(t, c, bucket, "ok/qe-1.csv", athenaFile(edgeColumns, rows))
	denied, deniedCalls := denyingS3(t, "Access Denied")
	kmsDenied, _ := denyingS3(t, "User: arn:aws:sts::111122223333:assumed-role/sendonce-producer is not authorized to perform: kms:Decrypt")

	tests := []struct {
		name       string
		output     string
		encryption string
		s3         *s3.Client
		mode       ReadMode
		fallback   bool   // rows come from GetQueryResults, one warning logged
		err        error  // instead: this error
		msg        string // and this text
	}{
		{name: "client-side encrypted, auto", output: "enc/", encryption: "CSE_KMS", mode: ReadAuto, fallback: true},
		{name: "client-side encrypted, s3", output: "enc/", encryption: "CSE_KMS", mode: ReadS3, err: ErrS3Unreadable, msg: "CSE_KMS"},
		{name: "SSE-KMS results are read from S3", output: "ok/", encryption: "SSE_KMS", mode: ReadAuto},
		{name: "access denied, auto", output: "ok/", s3: denied, mode: ReadAuto, fallback: true},
		{name: "KMS key denied, auto", output: "ok/", s3: kmsDenied, mode: ReadAuto, fallback: true},
		{name: "access denied, s3", output: "ok/", s3: denied, mode: ReadS3, err: ErrS3Unreadable, msg: "give the role s3:GetObject on the results prefix"},
		{name: "result file gone, auto", output: "gone/", mode: ReadAuto, msg: "is gone (a lifecycle rule on the results bucket?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &fakeAthena{states: []string{"SUCCEEDED"}, columns: edgeColumns, rows: rows, pageSize: 4, output: "s3://" + bucket + "/" + tt.output, encryption: tt.encryption}
			cfg := AthenaConfig{Campaign: "c", Query: "SELECT 1", Client: f.client(t), After: (&instant{}).after, Read: tt.mode,
				Log: slog.New(slog.NewTextHandler(&logs, nil))}
			if tt.s3 != nil {
				cfg.S3 = tt.s3
			}
			r, err := NewAthena(context.Background(), cfg)
			if tt.msg != "" {
				if tt.err != nil {
					require.ErrorIs(t, err, tt.err)
				} else {
					require.NotErrorIs(t, err, ErrS3Unreadable)
				}
				require.ErrorContains(t, err, tt.msg)
				require.Zero(t, f.pages, "no paging after a hard error")
				return
			}
			require.NoError(t, err)
			got := readAll(t, r)
			require.Len(t, got, len(rows))
			require.Equal(t, "u2", got[1].UserID)
			require.JSONEq(t, `{"name":"line1\r\nline2","note":"CRLF inside"}`, string(got[3].Data))
			warnings := strings.Count(logs.String(), "paging through GetQueryResults instead")
			if tt.fallback {
				require.IsType(t, &athenaReader{}, r)
				require.Equal(t, 3, f.pages, "11 rows and the header in pages of 4")
				require.Equal(t, 1, warnings, logs.String())
			} else {
				require.IsType(t, &athenaS3Reader{}, r)
				require.Zero(t, f.pages)
				require.Zero(t, warnings, logs.String())
			}
		})
	}

	t.Run("api mode never asks S3", func(t *testing.T) {
		before := deniedCalls.Load()
		f := &fakeAthena{states: []string{"SUCCEEDED"}, columns: edgeColumns, rows: rows, pageSize: 1000, output: "s3://" + bucket + "/ok/"}
		r, err := NewAthena(context.Background(), AthenaConfig{Campaign: "c", Query: "q", Client: f.client(t), After: (&instant{}).after, Read: ReadAPI, S3: denied})
		require.NoError(t, err)
		require.Len(t, readAll(t, r), len(rows))
		require.Equal(t, before, deniedCalls.Load())
	})
}

// TestAthenaS3RerunReusesExecution: a rerun of the same campaign sends the
// same ClientRequestToken, gets the same execution back (no second scan)
// and reads the same result file, so the same users come back.
func TestAthenaS3RerunReusesExecution(t *testing.T) {
	c, bucket := s3Results(t)
	rows := edgeRows()
	f := &fakeAthena{states: []string{"SUCCEEDED"}, columns: edgeColumns, rows: rows, pageSize: 1000, output: "s3://" + bucket + "/athena/"}
	putObject(t, c, bucket, "athena/qe-1.csv", athenaFile(edgeColumns, rows))
	cfg := AthenaConfig{Campaign: "2026-11", Query: "SELECT user_id, email, name, note FROM users", Database: "crm", Client: f.client(t), After: (&instant{}).after, Read: ReadS3}

	var runs [][]Row
	for range 2 {
		r, err := NewAthena(context.Background(), cfg)
		require.NoError(t, err)
		require.Equal(t, "qe-1", r.(*athenaS3Reader).QueryExecutionID())
		require.Equal(t, "s3://"+bucket+"/athena/qe-1.csv", r.(*athenaS3Reader).ResultLocation())
		runs = append(runs, readAll(t, r))
		require.NoError(t, r.Close())
	}
	require.Len(t, f.started, 2)
	require.Equal(t, f.started[0]["ClientRequestToken"], f.started[1]["ClientRequestToken"])
	require.Len(t, f.byToken, 1, "one execution: Athena scanned once")
	require.Zero(t, f.pages)
	require.Len(t, runs[0], len(rows))
	require.Equal(t, runs[0], runs[1])

	// Another campaign (or a changed query) is a new execution, whose file
	// is not there yet: it is not confused with the first one's.
	cfg.Campaign = "2026-12"
	_, err := NewAthena(context.Background(), cfg)
	require.ErrorContains(t, err, "qe-2.csv")
	require.Len(t, f.byToken, 2)
}
