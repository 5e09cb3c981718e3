package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/source"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// miniAthena answers the three Athena calls for one finished query whose
// result is rows (with the header columns), paged 3 rows at a time, and
// whose result file is s3://<bucket>/athena/q-1.csv.
func miniAthena(t *testing.T, bucket string, columns []string, rows [][]*string) *athena.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonAthena.") {
		case "StartQueryExecution":
			_ = json.NewEncoder(w).Encode(map[string]any{"QueryExecutionId": "q-1"})
		case "GetQueryExecution":
			_ = json.NewEncoder(w).Encode(map[string]any{"QueryExecution": map[string]any{"QueryExecutionId": "q-1",
				"Status": map[string]any{"State": "SUCCEEDED"}, "ResultConfiguration": map[string]any{"OutputLocation": "s3://" + bucket + "/athena/q-1.csv"}}})
		case "GetQueryResults":
			start := 0
			if tok, ok := body["NextToken"].(string); ok {
				start, _ = strconv.Atoi(tok)
			}
			all := append([][]*string{nil}, rows...) // row 0: the header
			end := min(start+3, len(all))
			var out []any
			for i := start; i < end; i++ {
				var data []any
				vals := all[i]
				if i == 0 {
					for _, c := range columns {
						vals = append(vals, aws.String(c))
					}
				}
				for _, v := range vals {
					if v == nil {
						data = append(data, map[string]any{})
					} else {
						data = append(data, map[string]any{"VarCharValue": *v})
					}
				}
				out = append(out, map[string]any{"Data": data})
			}
			var cols []any
			for _, c := range columns {
				cols = append(cols, map[string]any{"Name": c})
			}
			res := map[string]any{"ResultSet": map[string]any{"ResultSetMetadata": map[string]any{"ColumnInfo": cols}, "Rows": out}}
			if end < len(all) {
				res["NextToken"] = strconv.Itoa(end)
			}
			_ = json.NewEncoder(w).Encode(res)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return athena.New(athena.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
}

// TestPublishAthenaFromS3MatchesGetQueryResults publishes the same Athena
// result read from its file on S3 (moto) and paged through GetQueryResults:
// the jobs, the rejects with their reasons and the summary must be the
// same.
func TestPublishAthenaFromS3MatchesGetQueryResults(t *testing.T) {
	testenv.S3Endpoint(t)
	ctx := context.Background()
	s3c, err := source.NewS3Client(ctx)
	require.NoError(t, err)
	bucket := strings.TrimRight(strings.ToLower(testenv.Name(t, "p")), "-")
	bucket = strings.TrimRight(bucket[:min(len(bucket), 63)], "-")
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)

	s := aws.String
	columns := []string{"user_id", "email", "plan", "note"}
	rows := [][]*string{
		{s("u1"), s("a@example.com"), s("pro"), s("line1\r\nline2")},
		{s("u2"), s("b@example.com"), s(`say "hi", twice`), nil},
		{nil, s("c@example.com"), s("x"), s("")},                    // missing user id
		{s("u4"), s("not-an-address"), s("x"), s("")},               // invalid email
		{s("u5"), nil, s("x"), s("")},                               // missing email
		{s(strings.Repeat("x", 300)), s("d@example.com"), nil, nil}, // user id too long
		{s("u1"), s("a2@example.com"), s("dup"), s("")},             // duplicate: the first row wins
		{s("u8"), s("h@example.org"), s("Zoë 🙂"), nil},
	}
	var file strings.Builder
	for _, r := range append([][]*string{{s(columns[0]), s(columns[1]), s(columns[2]), s(columns[3])}}, rows...) {
		for k, v := range r {
			if k > 0 {
				file.WriteByte(',')
			}
			if v != nil {
				file.WriteString(`"` + strings.ReplaceAll(*v, `"`, `""`) + `"`)
			}
		}
		file.WriteByte('\n')
	}
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("athena/q-1.csv"), Body: strings.NewReader(file.String())})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("athena/q-1.csv")})
		_, _ = s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})

	type outcome struct {
		sum     Summary
		jobs    map[string]string // user → the job's email, data and campaign
		rejects string
	}
	run := func(mode source.ReadMode) outcome {
		e := fakeEnv(t)
		src, err := source.NewAthena(ctx, source.AthenaConfig{Campaign: "2026-11", Query: "SELECT 1", Client: miniAthena(t, bucket, columns, rows), Read: mode,
			After: func(time.Duration) <-chan time.Time { c := make(chan time.Time, 1); c <- time.Time{}; return c }})
		require.NoError(t, err)
		defer src.Close()
		if mode == source.ReadS3 {
			require.Implements(t, (*source.Progresser)(nil), src, "the S3 reader knows the file's size")
		}
		cfg := testConfig()
		cfg.Topics = e.topics
		var rejects bytes.Buffer
		at := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		sum, err := Publish(ctx, cfg, Deps{Client: e.cl, Source: src, RejectsFile: &rejects, Now: func() time.Time { return at }})
		require.NoError(t, err)
		_, jobs := readJobs(t, e)
		o := outcome{sum: sum, jobs: map[string]string{}, rejects: rejects.String()}
		for k, j := range jobs {
			o.jobs[k] = fmt.Sprintf("%s %s %s", j.Email, j.Data, j.Campaign)
		}
		o.sum.Started, o.sum.Elapsed, o.sum.Previous = time.Time{}, 0, nil
		return o
	}
	viaAPI, viaS3 := run(source.ReadAPI), run(source.ReadS3)
	require.Equal(t, viaAPI, viaS3)

	require.EqualValues(t, len(rows), viaS3.sum.Rows)
	require.EqualValues(t, 3, viaS3.sum.Published, "u1, u2, u8")
	require.EqualValues(t, 1, viaS3.sum.Duplicates)
	require.EqualValues(t, 4, viaS3.sum.Rejected)
	require.Len(t, viaS3.sum.RejectedBy, 4, "%v", viaS3.sum.RejectedBy)
	require.Contains(t, viaS3.jobs["u1"], "a@example.com", "the first row wins")
	require.Contains(t, viaS3.jobs["u1"], `line1\r\nline2`)
	require.Contains(t, viaS3.jobs["u2"], `say \"hi\", twice`)
	require.Len(t, lines(viaS3.rejects), 5, "four rejects and the duplicate")
}
